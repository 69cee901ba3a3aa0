"""The Console API client and the lease manager against the local Console API stand-in.

The stand-in speaks the Console API's paths, shapes and types (rebuilt from the Console's zod
schemas; tests/test_akash_console_contract.py holds it to them) and, once a lease exists, starts
the real worker on loopback; every check here goes over real HTTP.
"""

from __future__ import annotations

import time

import pytest
import requests

from gpu_jobs.console_api import ConsoleApiError, ConsoleClient
from gpu_jobs.leases import LeaseError, LeaseManager, LeaseSettings, read_leases, state_path
from gpu_jobs.sdl import GpuOrder
from gpu_jobs.worker_client import WorkerClient
from tests.akash_standin import AkashConsoleStandIn, Provider, Scenario
from tests.test_generate import movie_cli

API_KEY = "console-key-" + "k" * 24


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIE_HOME", str(tmp_path / ".movie"))
    return tmp_path / ".movie"


def _settings(**changes) -> LeaseSettings:
    values = {
        "orders": [
            GpuOrder(gpu_models=["h100", "a100"], max_price_per_block=3000),
            GpuOrder(gpu_models=["h100", "a100", "rtx4090"], max_price_per_block=5000),
        ],
        "bid_timeout_s": 0.6,
        "ready_timeout_s": 30,
        "poll_s": 0.05,
        "worker_scheme": "http",
        "deposit_usd": 5.0,
        "top_up_below_usd": 1.0,
    }
    return LeaseSettings(**(values | changes))


def _manager(standin: AkashConsoleStandIn, **changes) -> LeaseManager:
    client = ConsoleClient(API_KEY, standin.url, backoff_s=0.01)
    return LeaseManager(client, _settings(**changes))


def test_lease_comes_up_after_late_bids_and_null_status(home):
    scenario = Scenario(bids_after_polls=3, null_status_polls=3)
    with AkashConsoleStandIn(API_KEY, scenario) as standin:
        lease = _manager(standin).acquire("run-1")
        assert lease.state == "ready" and lease.provider == "akash1provider0a100"
        assert lease.runs == ["run-1"] and lease.usd_per_hour > 0
        # The stand-in's worker got the lease's secret through the SDL: a signed call works.
        health = WorkerClient(lease.worker_url, lease.secret).health()
        assert health["runs"] == [] and health["model_server"]["loads"] == {}
        deployment = standin.deployments[lease.dseq]
        assert deployment.bid_polls > 3 and deployment.status_polls > 3
        # Every request carried the key in its header, and only there.
        assert all(headers.get("x-api-key") == API_KEY for _, _, headers in standin.requests)
        services = deployment.sdl["services"]["worker"]
        assert f"MOVIE_WORKER_SECRET={lease.secret}" in services["env"]
        gpu = deployment.sdl["profiles"]["compute"]["worker"]["resources"]["gpu"]
        assert [m["model"] for m in gpu["attributes"]["vendor"]["nvidia"]] == ["h100", "a100"]
        # State is private to the owner and records what status needs.
        assert oct(state_path().stat().st_mode & 0o777) == "0o600"
        assert read_leases()[0].worker_url == lease.worker_url


def test_warm_lease_is_reused(home):
    with AkashConsoleStandIn(API_KEY) as standin:
        manager = _manager(standin)
        first = manager.acquire("run-1")
        manager.release("run-1")
        second = manager.acquire("run-2")
        assert second.dseq == first.dseq and len(standin.deployments) == 1


def test_no_bids_widens_the_order_then_leases(home):
    scenario = Scenario(providers=[Provider("akash1provider4090", "rtx4090", "4000")])
    with AkashConsoleStandIn(API_KEY, scenario) as standin:
        lease = _manager(standin).acquire("run-1")
        assert lease.provider == "akash1provider4090"
        first, second = standin.deployments.values()
        assert first.state == "closed" and second.dseq == lease.dseq
        closed = {record.dseq: record for record in read_leases()}[first.dseq]
        assert closed.state == "closed" and closed.closed_reason == "no bids"


def test_no_bids_at_all_fails_clearly_and_closes_everything(home):
    scenario = Scenario(providers=[Provider("akash1providerdear", "a100", "900000")])
    with AkashConsoleStandIn(API_KEY, scenario) as standin:
        with pytest.raises(LeaseError) as error:
            _manager(standin).acquire("run-1")
        assert "no provider bid within 1 s" in str(error.value)
        assert "h100/a100 at <= 3000" in str(error.value)
        assert "MOVIE_GPU_MODELS" in str(error.value)
        assert [d.state for d in standin.deployments.values()] == ["closed", "closed"]
        assert all(lease.state == "closed" for lease in read_leases())


def test_rate_limits_and_server_errors_are_retried(home):
    scenario = Scenario(
        failures=[
            ("POST", "/v1/deployments", 429, 2),
            ("GET", "/v1/bids", 500, 1),
            ("POST", "/v1/leases", 503, 1),
        ]
    )
    with AkashConsoleStandIn(API_KEY, scenario) as standin:
        lease = _manager(standin).acquire("run-1")
        assert lease.state == "ready" and len(standin.deployments) == 1
        assert [f[3] for f in standin.scenario.failures] == [0, 0, 0]


@pytest.mark.parametrize("lost_with", [0, 502], ids=["connection-dropped", "gateway-502"])
def test_a_lost_create_answer_leaves_one_deployment_and_one_escrow(home, lost_with):
    # The first create is carried out (a deployment with its escrow exists), but its answer
    # never arrives: the client must not simply post again and keep both.
    scenario = Scenario(lost_answers=[("POST", "/v1/deployments", lost_with, 1)])
    with AkashConsoleStandIn(API_KEY, scenario) as standin:
        lease = _manager(standin).acquire("run-1")
        assert lease.state == "ready"
        creates = [b for m, path, b in standin.bodies if (m, path) == ("POST", "/v1/deployments")]
        assert len(creates) == 2 and creates[0] == creates[1]  # asked again with the same SDL
        assert [d.dseq for d in standin.active()] == [lease.dseq]
        funded = [d.dseq for d in standin.deployments.values() if d.funds > 0]
        assert funded == [lease.dseq]  # one escrow: the lost one's deposit went back on close
        orphan = next(d for d in standin.deployments.values() if d.dseq != lease.dseq)
        assert orphan.state == "closed" and orphan.hash == standin.deployments[lease.dseq].hash
        recorded = {record.dseq: record for record in read_leases()}
        assert recorded[orphan.dseq].state == "closed"
        assert "lost" in recorded[orphan.dseq].closed_reason
        # A twin that shows up late (the lost request was still under way) is closed by the
        # next maintenance pass: the same SDL, so the same manifest hash.
        late = requests.post(
            f"{standin.url}/v1/deployments", json=creates[0], headers={"x-api-key": API_KEY}
        ).json()["data"]["dseq"]
        assert _manager(standin).maintain() == [f"closed {late} (duplicate of {lease.dseq})"]
        assert [d.dseq for d in standin.active()] == [lease.dseq]
        # A 5xx that did nothing (no deployment) is asked again once too, and nothing is closed.
        standin.scenario.failures = [("POST", "/v1/deployments", 500, 1)]
        assert _manager(standin).provision().state == "ready"
        assert len(standin.active()) == 2 and len(standin.deployments) == 4  # 2 closed twins


def test_escrow_is_read_from_state_funds_and_deposits_as_reported(home):
    with AkashConsoleStandIn(API_KEY, Scenario(managed_deposits=True)) as standin:
        lease = _manager(standin, deposit_usd=5.0, top_up_below_usd=0.1).acquire("run-1")
        # Managed deposits: the platform funded its own 0.5 USD and ignored the 5.0 asked for.
        (recorded,) = read_leases()
        assert recorded.deposited_usd == 0.5 and recorded.escrow_usd == pytest.approx(0.5)
        standin.deployments[lease.dseq].funds -= 200_000  # 0.2 USD spent
        assert _manager(standin, top_up_below_usd=0.1).maintain() == []
        assert read_leases()[0].escrow_usd == pytest.approx(0.3)
        assert read_leases()[0].manifest_hash == standin.deployments[lease.dseq].hash


def test_uakt_needs_a_configured_price_and_unknown_denoms_are_refused(home):
    with AkashConsoleStandIn(API_KEY, Scenario(grant_denom="uakt")) as standin:
        with pytest.raises(LeaseError, match="set MOVIE_AKT_USD"):
            _manager(standin).acquire("run-1")
        assert standin.active() == []  # closed, not left billing
        lease = _manager(standin, akt_usd=2.5).acquire("run-2")
        # 2000 uakt per block at 2.5 USD per AKT: 0.005 USD per block, 6.1 s blocks
        assert lease.usd_per_hour == pytest.approx(0.005 * 3600 / 6.1)
        assert lease.price_denom == "uakt" and lease.deposited_usd == pytest.approx(12.5)
    state_path().unlink()  # another account below: forget this one's leases
    with AkashConsoleStandIn(API_KEY, Scenario(grant_denom="ufoo")) as standin:
        with pytest.raises(LeaseError) as refused:
            _manager(standin).acquire("run-1")
        assert "denom 'ufoo' has no USD rate" in str(refused.value)
        assert "escrow_account.state.deposits[].balance" in str(refused.value)  # the field
        assert standin.active() == [] and all(d.state == "closed" for d in read_leases())


def test_api_errors_name_the_cause_not_the_key(home):
    with AkashConsoleStandIn(API_KEY) as standin:
        with pytest.raises(ConsoleApiError) as error:
            ConsoleClient("wrong-key", standin.url).bids("1")
        assert error.value.status == 401 and "answered 401: Unauthorized" in str(error.value)
        client = ConsoleClient(API_KEY, standin.url)
        assert client.bids("999") == []  # unknown dseq: 200 with an empty list
        with pytest.raises(ConsoleApiError) as error:
            client.deployment("999")
        assert error.value.status == 404 and API_KEY not in str(error.value)
        failing = ConsoleClient(API_KEY, standin.url, max_retries=1, backoff_s=0.01)
        standin.scenario.failures = [("GET", "/v1/bids", 500, 5)]
        with pytest.raises(ConsoleApiError) as error:
            failing.bids("1")
        assert error.value.status == 500 and "scripted 500" in str(error.value)
        # A create that failed with a 5xx is not posted again by the client: it may exist.
        standin.scenario.failures = [("POST", "/v1/deployments", 503, 1)]
        with pytest.raises(ConsoleApiError) as error:
            failing.create_deployment("version: '2.0'", 5.0)
        assert error.value.maybe_done and error.value.status == 503
        assert [p for m, p, _ in standin.requests if m == "POST"] == ["/v1/deployments"]


def test_client_needs_a_key_from_the_environment():
    with pytest.raises(ValueError, match="AKASH_CONSOLE_API_KEY is not set"):
        ConsoleClient.from_env({})


def test_lease_closed_for_lack_of_funds_is_noticed_and_replaced(home):
    with AkashConsoleStandIn(API_KEY) as standin:
        manager = _manager(standin, top_up_below_usd=0.0)
        first = manager.acquire("run-1")
        manager.release("run-1")
        standin.scenario.escrow_burn_usd_per_s = 50.0  # the $5 deposit lasts 0.1 s from now
        time.sleep(0.3)
        notes = manager.maintain()
        assert notes == [f"{first.dseq} was closed by the network (insufficient_funds)"]
        assert standin.deployments[first.dseq].worker.poll() is not None
        standin.scenario.escrow_burn_usd_per_s = 0.0
        second = manager.acquire("run-2")
        assert second.dseq != first.dseq and second.state == "ready"


def test_low_escrow_is_topped_up(home):
    with AkashConsoleStandIn(API_KEY) as standin:
        manager = _manager(standin, top_up_below_usd=4.0)
        lease = manager.acquire("run-1")
        assert manager.maintain() == []  # $5 in escrow: above the $4 threshold
        assert not any(path == "/v1/deposit-deployment" for _, path, _ in standin.bodies)
        standin.scenario.escrow_burn_usd_per_s = 2.0
        time.sleep(0.8)  # about $1.6 spent: under the threshold
        (note,) = manager.maintain()
        assert note.startswith(f"topped up {lease.dseq}: $3.") and "deposited $5.00" in note
        deposits = [b for _, path, b in standin.bodies if path == "/v1/deposit-deployment"]
        # The body the schema takes: dseq a string, deposit a number of dollars.
        assert deposits == [{"data": {"dseq": lease.dseq, "deposit": 5.0}}]
        assert 7.0 < standin.deployments[lease.dseq].escrow_usd < 9.0
        (recorded,) = read_leases()
        assert recorded.deposited_usd == 10.0 and len(recorded.deposits) == 2
        assert 7.0 < recorded.escrow_usd < 9.0


def test_idle_lease_is_closed(home):
    with AkashConsoleStandIn(API_KEY) as standin:
        manager = _manager(standin, idle_close_s=60)
        lease = manager.acquire("run-1")
        assert manager.maintain(now=time.time() + 3600) == []  # busy: never idle
        manager.release("run-1")
        assert manager.maintain() == []
        assert manager.maintain(now=time.time() + 61) == [f"closed {lease.dseq} (idle)"]
        deployment = standin.deployments[lease.dseq]
        assert deployment.state == "closed" and deployment.worker.poll() is not None


def test_settings_from_environment_validate_with_field_names():
    settings = LeaseSettings.from_env(
        {"MOVIE_GPU_MODELS": "h100@9000;l40s,rtx4090@15000", "MOVIE_GPU_MAX_LEASES": "2"}
    )
    assert [o.gpu_models for o in settings.orders] == [["h100"], ["l40s", "rtx4090"]]
    assert settings.orders[1].max_price_per_block == 15000 and settings.max_leases == 2
    with pytest.raises(ValueError, match="max_leases"):
        LeaseSettings.from_env({"MOVIE_GPU_MAX_LEASES": "0"})
    with pytest.raises(ValueError, match="GPU model 'a100 x'"):
        LeaseSettings.from_env({"MOVIE_GPU_MODELS": "a100 x@100"})


@pytest.mark.e2e
def test_cli_up_status_down(home):
    with AkashConsoleStandIn(API_KEY, Scenario(bids_after_polls=1)) as standin:
        env = {
            "AKASH_CONSOLE_API_KEY": API_KEY,
            "AKASH_CONSOLE_URL": standin.url,
            "MOVIE_GPU_MODELS": "a100@3000",
            "MOVIE_GPU_POLL_S": "0.05",
            "MOVIE_GPU_WORKER_SCHEME": "http",
        }
        up = movie_cli(home, "gpu", "up", extra_env=env, timeout=120)
        assert up.returncode == 0, up.stderr
        (dseq,) = standin.deployments
        assert f"lease {dseq} ready: akash1provider0a100 (a100)" in up.stderr
        status = movie_cli(home, "gpu", "status", extra_env=env)
        assert status.returncode == 0, status.stderr
        for shown in (dseq, "ready", "akash1provider0a100", "a100", "min", "$5.00 / $5.00"):
            assert shown in status.stdout
        again = movie_cli(home, "gpu", "up", extra_env=env, timeout=120)
        assert again.returncode == 0 and len(standin.deployments) == 1  # warm: reused
        missing = movie_cli(home, "gpu", "down", "1", extra_env=env)
        assert missing.returncode == 2 and "no open lease '1'" in missing.stderr
        down = movie_cli(home, "gpu", "down", extra_env=env)
        assert down.returncode == 0 and f"closed 1 lease(s): {dseq}" in down.stderr
        assert standin.deployments[dseq].state == "closed"
        assert standin.deployments[dseq].worker.poll() is not None
        for output in (up, status, again, down):
            assert API_KEY not in output.stdout + output.stderr
        no_key = movie_cli(home, "gpu", "up", extra_env={})
        assert no_key.returncode == 2 and "AKASH_CONSOLE_API_KEY is not set" in no_key.stderr
