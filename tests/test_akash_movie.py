"""A real movie's GPU level through the Akash launcher, on the production instance.

PostgreSQL holds the instance, SeaweedFS the artifacts; the real Dagster daemon launches the
runs `movie generate` (MOVIE_MODE=production) queues, through movie_assets.instance.launchers's
DelegatingRunLauncher; the Console API is the local stand-in, which starts the real worker on
loopback with the environment the SDL carries (the database URL and storage credentials named
by MOVIE_GPU_WORKER_ENV). The movie code location is the real one (movie_assets.definitions);
its GPU level (`segment_clip`, pool `gpu`) runs the diffusers text-to-video producer on a tiny
random-weight LTX pipeline. Lean on purpose: 10 s movies, one image per segment.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gpu_jobs.leases import read_leases
from gpu_jobs.worker_client import WorkerClient
from movie_assets.instance.launchers import DSEQ_TAG, LAUNCHER_TAG, PROVIDER_TAG
from tests.akash_standin import AkashConsoleStandIn, Scenario
from tests.servers import new_bucket, s3_env
from tests.test_akash_launcher import INSTANCE_YAML as LAUNCHER_INSTANCE_YAML
from tests.test_akash_launcher import start_daemon
from tests.test_diffusers import _env
from tests.test_generate import movie_cli

pytest.importorskip("diffusers", reason="the gpu extra (torch, diffusers) is not installed")

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "console-key-movie-" + "z" * 24
MOVIE = ("--duration", "10", "--images-per-segment", "1", "--blueprint", "video-by-text")

# The launcher tests' instance (queue, delegating launcher, monitoring), on PostgreSQL.
INSTANCE_YAML = LAUNCHER_INSTANCE_YAML + (
    "storage:\n  postgres:\n    postgres_url:\n      env: MOVIE_PG_URL\n"
)


pytestmark = pytest.mark.e2e  # a movie on the Akash stand-in, PostgreSQL, SeaweedFS, a daemon


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres, seaweedfs, tiny_models):
    base = tmp_path_factory.mktemp("akash-movie")
    home, dagster_home = base / ".movie", base / "dagster"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
    workspace = base / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: movie_assets.definitions\n"
        f"      location_name: movie\n      working_directory: {ROOT}\n"
    )
    # What the runs need, wherever they execute: passed to the lease through the SDL.
    run_env = {
        "MOVIE_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "MOVIE_MODE": "production",
        "MOVIE_PG_URL": postgres.create_database("akash_movie"),
        **s3_env(seaweedfs, new_bucket(seaweedfs)),
        **_env(tiny_models),  # the diffusers clip producer on the tiny LTX pipeline
        "MOVIE_RENDER_DIVISOR": os.environ.get("MOVIE_RENDER_DIVISOR", ""),  # tests/conftest.py
    }
    lease_env = {
        "MOVIE_GPU_MODELS": "a100@3000",
        "MOVIE_GPU_POLL_S": "0.1",
        "MOVIE_GPU_BID_TIMEOUT_S": "5",
        "MOVIE_GPU_WORKER_SCHEME": "http",
        "MOVIE_GPU_IDLE_CLOSE_S": "600",
        "MOVIE_GPU_WORKER_ENV": ",".join(run_env),
    }
    cli_env = run_env | {"MOVIE_WORKSPACE": str(workspace), "PYTHONPATH": str(ROOT)}
    # The provider's machine knows nothing of this project: only what the SDL brings.
    provider_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MOVIE_", "DAGSTER_", "AWS_", "AKASH_"))
    } | {"PYTHONPATH": str(ROOT), "MOVIE_HOME": str(base / "provider")}
    with AkashConsoleStandIn(API_KEY, Scenario(), env=provider_env) as standin:
        daemon_env = (
            movie_env_of(home, cli_env | lease_env)
            | {"AKASH_CONSOLE_API_KEY": API_KEY, "AKASH_CONSOLE_URL": standin.url}
        )
        daemon_log = base / "daemon.log"
        patch = pytest.MonkeyPatch()
        patch.setenv("MOVIE_HOME", str(home))  # read_leases() reads this project's leases
        daemon = start_daemon(workspace, daemon_env, daemon_log)
        try:
            yield {
                "home": home,
                "env": cli_env,
                "daemon_env": daemon_env,
                "standin": standin,
                "model": str(tiny_models["video"]),
                "daemon_log": daemon_log,
            }
        finally:
            daemon.terminate()
            daemon.wait(60)
            patch.undo()


def movie_env_of(home: Path, extra: dict) -> dict:
    from tests.test_generate import movie_env

    return movie_env(home, extra)


@contextlib.contextmanager
def _open(stack):
    """The production instance, with this project's settings in the environment meanwhile."""
    import dagster as dg

    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack["env"].items():
            patch.setenv(name, value)
        instance = dg.DagsterInstance.get()
        try:
            yield instance
        finally:
            instance.dispose()


def _runs_of(stack, movie_id: str) -> list:
    import dagster as dg

    with _open(stack) as instance:
        return list(instance.get_runs(filters=dg.RunsFilter(tags={"movie/id": movie_id})))


def _clip_metadata(stack, movie_id: str) -> dict:
    import dagster as dg

    with _open(stack) as instance:
        records = instance.fetch_materializations(dg.AssetKey("segment_clip"), limit=50).records
        for record in records:  # newest first
            if record.partition_key.startswith(f"{movie_id}|"):
                return {k: v.value for k, v in record.asset_materialization.metadata.items()}
    raise AssertionError(f"no segment_clip materialization for {movie_id}")


def _ledger(stack, movie_id: str) -> list[dict]:
    path = stack["home"] / "ledger.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [c for c in map(json.loads, lines) if c["movie"] == movie_id]


def _loads(lease) -> dict:
    return WorkerClient(lease.worker_url, lease.secret).health()["model_server"]["loads"]


def _generate(stack, movie_id: str, prompt: str) -> subprocess.CompletedProcess:
    return movie_cli(
        stack["home"], "generate", prompt, *MOVIE, "--id", movie_id, extra_env=stack["env"]
    )


def _akash_runs(stack, movie_id: str) -> list:
    return [r for r in _runs_of(stack, movie_id) if r.tags.get(LAUNCHER_TAG) == "akash"]


@pytest.fixture(scope="module")
def glacier(stack) -> dict:
    """The first movie, "glacier": its clip run is on a cold lease when the container dies, then
    `movie generate` again. Every test that looks at this movie or its lease asks for this."""
    first = subprocess.Popen(
        [sys.executable, "-m", "movie_assets.cli", "generate", "A glacier valley", *MOVIE]
        + ["--id", "glacier"],
        env=movie_env_of(stack["home"], stack["env"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while not (runs := _akash_runs(stack, "glacier")) or runs[0].status.value != "STARTED":
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the clip run never started on the lease"
        time.sleep(0.5)
    (lease,) = read_leases()
    # Wait until the run's process is on the worker, then the container dies with it.
    while not WorkerClient(lease.worker_url, lease.secret).health()["runs"]:
        time.sleep(0.2)
    stack["standin"].kill_worker(lease.dseq)
    _, err = first.communicate(timeout=600)
    killed = _akash_runs(stack, "glacier")[0]
    return {
        "first": first,
        "first_err": err,
        "killed": killed,
        "rerun": _generate(stack, "glacier", "A glacier valley"),
    }


def test_a_worker_killed_mid_clip_fails_the_run_and_the_rerun_pays_nothing_twice(stack, glacier):
    """The first movie's clip run is on a cold lease when its container dies."""
    assert glacier["first"].returncode != 0, glacier["first_err"][-3000:]
    assert glacier["killed"].status.value == "FAILURE"
    done = glacier["rerun"]
    assert done.returncode == 0, done.stderr[-3000:]
    # Every partition's provider call was paid once, the killed attempt included.
    paid = Counter((c["asset"], c["partition"]) for c in _ledger(stack, "glacier"))
    assert paid and max(paid.values()) == 1, paid
    assert paid[("segment_clip", "glacier|s00")] == 1


def test_the_gpu_level_runs_on_the_lease_with_its_cost_per_clip(stack, glacier):
    (lease,) = [lease for lease in read_leases() if lease.state != "closed"]
    runs = _runs_of(stack, "glacier")[::-1]  # oldest first
    akash = [r for r in runs if r.tags.get(LAUNCHER_TAG) == "akash"]
    assert [r.status.value for r in akash] == ["FAILURE", "SUCCESS"]
    assert all(r.tags[DSEQ_TAG] == lease.dseq for r in akash)
    assert all(r.tags[PROVIDER_TAG] == "akash1provider0a100" for r in akash)
    # Every other level ran here, through the default launcher.
    assert {r.tags[LAUNCHER_TAG] for r in runs if r not in akash} == {"default"}
    assert {r.job_name for r in akash} == {next(iter(akash)).job_name}
    assert _loads(lease) == {f"text-to-video:{stack['model']}": 1}

    clip = _clip_metadata(stack, "glacier")
    assert clip["provider"] == "diffusers" and clip["gpu_seconds"] > 0
    assert clip["estimated_cost_usd"] == pytest.approx(
        clip["gpu_seconds"] * lease.usd_per_hour / 3600, abs=2e-6
    )
    shown = movie_cli(stack["home"], "status", "glacier", extra_env=stack["env"])
    assert shown.returncode == 0, shown.stderr
    assert "segment_clip: 1 calls" in shown.stderr and "GPU s" in shown.stderr
    history = movie_cli(
        stack["home"], "history", "glacier", "--asset", "segment_clip", extra_env=stack["env"]
    )
    assert history.returncode == 0, history.stderr
    assert f"{clip['estimated_cost_usd']:.4f}" in history.stdout + history.stderr


def test_a_second_movie_on_the_warm_lease_loads_no_model(stack, glacier):
    (lease,) = [lease for lease in read_leases() if lease.state != "closed"]
    done = _generate(stack, "tides", "How tides move")
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = _akash_runs(stack, "tides")
    assert run.tags[DSEQ_TAG] == lease.dseq and run.status.value == "SUCCESS"
    assert _loads(lease) == {f"text-to-video:{stack['model']}": 1}
    health = WorkerClient(lease.worker_url, lease.secret).health()
    assert health["model_server"]["calls"] == 2  # glacier's rerun and tides, one load


def test_no_secret_reaches_the_event_log_or_the_logs(stack, glacier):
    secrets = [API_KEY, stack["env"]["AWS_SECRET_ACCESS_KEY"]]
    secrets += [lease.secret for lease in read_leases()]
    with _open(stack) as instance:
        texts = [stack["daemon_log"].read_text()]
        texts += [p.read_text() for p in stack["standin"].worker_output]
        for run in instance.get_runs():
            texts.append(json.dumps(dict(run.tags)))
            for entry in instance.all_logs(run.run_id):
                texts.append(entry.user_message or "")
                if entry.dagster_event is not None:
                    texts.append(str(entry.dagster_event.event_specific_data))
    for text in texts:
        for secret in secrets:
            assert secret not in text
