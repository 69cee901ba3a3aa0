"""The Console API stand-in against the schemas it was derived from (tests/akash_console_schema.py,
read from the Console's zod schemas): every answer it gave in a whole lease's life has the
shape, types and status code the real API's schema defines, and it refuses requests the real API
refuses (a string where the schema wants a number)."""

from __future__ import annotations

import pytest
import requests

from gpu_jobs.console_api import ConsoleApiError, ConsoleClient
from gpu_jobs.leases import LeaseManager, LeaseSettings
from gpu_jobs.sdl import GpuOrder
from tests.akash_standin import AkashConsoleStandIn, Scenario, check_answer

API_KEY = "console-key-" + "c" * 24


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIE_HOME", str(tmp_path / ".movie"))
    return tmp_path / ".movie"


def test_every_answer_of_a_lease_life_matches_the_console_schema(home):
    scenario = Scenario(bids_after_polls=1, null_status_polls=3)
    with AkashConsoleStandIn(API_KEY, scenario) as standin:
        settings = LeaseSettings(
            orders=[GpuOrder(gpu_models=["a100"], max_price_per_block=3000)],
            poll_s=0.05,
            worker_scheme="http",
            top_up_below_usd=100.0,  # every maintenance pass deposits
        )
        manager = LeaseManager(ConsoleClient(API_KEY, standin.url, backoff_s=0.01), settings)
        lease = manager.acquire("run-1")
        manager.maintain()
        client = ConsoleClient(API_KEY, standin.url, max_retries=0)
        assert [d.dseq for d in client.list_deployments()] == [lease.dseq]
        for bad in (
            lambda: client.deployment("424242"),
            lambda: ConsoleClient("x", standin.url).bids("1"),
        ):
            with pytest.raises(ConsoleApiError):
                bad()
        manager.close(lease.dseq, "done")
        manager.close(lease.dseq, "again")  # closing twice: a no-op answer

        seen = {(method, status) for method, _, status, _ in standin.answers}
        assert {("POST", 201), ("GET", 200), ("POST", 200), ("DELETE", 200)} <= seen
        assert {("GET", 404), ("GET", 401)} <= seen
        paths = {
            path.rsplit("/", 1)[0] if path.count("/") > 2 else path
            for _, path, _, _ in standin.answers
        }
        assert paths >= {"/v1/deployments", "/v1/bids", "/v1/leases", "/v1/deposit-deployment"}
        for method, path, status, payload in standin.answers:
            check_answer(method, path, status, payload)
        # A lease status that was null (provider not answering yet) and one that was not.
        statuses = [
            lease_json["status"]
            for method, path, _, payload in standin.answers
            if method == "GET" and path.startswith("/v1/deployments/") and "data" in payload
            for lease_json in payload["data"]["leases"]
        ]
        assert None in statuses and any(s is not None for s in statuses)


def test_requests_are_as_strict_as_the_console_schema(home):
    with AkashConsoleStandIn(API_KEY) as standin:
        post = requests.Session()
        post.headers["x-api-key"] = API_KEY
        created = post.post(
            f"{standin.url}/v1/deployments",
            json={"data": {"sdl": _sdl(), "deposit": 5}},
        )
        assert created.status_code == 201
        dseq = created.json()["data"]["dseq"]
        assert isinstance(dseq, str)
        refusals = [
            ("/v1/deployments", {"data": {"sdl": _sdl(), "deposit": "5"}}),
            ("/v1/deployments", {"sdl": _sdl(), "deposit": 5}),
            ("/v1/deposit-deployment", {"data": {"dseq": dseq, "deposit": "1.5"}}),
            ("/v1/deposit-deployment", {"data": {"dseq": "-3", "deposit": 1.5}}),
            (
                "/v1/leases",
                {
                    "manifest": "[]",
                    "leases": [{"dseq": dseq, "gseq": "1", "oseq": 1, "provider": "akash1p"}],
                },
            ),
        ]
        for path, body in refusals:
            answer = post.post(f"{standin.url}{path}", json=body)
            assert answer.status_code == 400, (path, body, answer.text)
            error = check_answer("POST", path, 400, answer.json())
            assert error.code == "validation_error" and error.type == "validation_error"
        # Without managed deposits, the deprecated deposit is still required.
        missing = post.post(f"{standin.url}/v1/deployments", json={"data": {"sdl": _sdl()}})
        assert missing.status_code == 400 and missing.json()["message"] == "deposit is required"
        # dseq may be a number in requests (coerced); answers always carry it as a string.
        deposited = post.post(
            f"{standin.url}/v1/deposit-deployment",
            json={"data": {"dseq": int(dseq), "deposit": 1.5}},
        )
        assert deposited.status_code == 200
        body = check_answer("POST", "/v1/deposit-deployment", 200, deposited.json())
        funds = body.data.escrow_account.state.funds
        assert [(f.denom, f.amount) for f in funds] == [("uact", "6500000.000000000000000000")]


def _sdl() -> str:
    from gpu_jobs.sdl import render_sdl

    return render_sdl(GpuOrder(gpu_models=["a100"], max_price_per_block=3000), "img:1", {"A": "1"})
