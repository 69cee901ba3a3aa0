"""GPU runs through the real Dagster daemon, the delegating launcher and a worker on a lease.

The daemon dequeues runs and launches them with
movie_assets.instance.launchers.DelegatingRunLauncher; the
Console API is the local stand-in, which starts the real worker on loopback; the worker runs
`dagster api execute_run`'s body (forked from its warm run forker) against this test's
instance. Run monitoring is on, so health checks come from the daemon as in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from gpu_jobs.leases import read_leases
from gpu_jobs.worker_client import WorkerClient
from movie_assets.instance.launchers import (
    COST_TAG,
    DSEQ_TAG,
    GPU_SECONDS_TAG,
    LAUNCHER_TAG,
    PROVIDER_TAG,
    WORKER_TAG,
)
from tests.akash_standin import AkashConsoleStandIn, Scenario
from tests.helpers import run_python

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "console-key-launcher-" + "q" * 20

INSTANCE_YAML = """
telemetry:
  enabled: false
run_coordinator:
  module: movie_assets.instance.run_coordinator
  class: MovieRunCoordinator
  config:
    dequeue_use_threads: true
    dequeue_interval_seconds: 1
run_launcher:
  module: movie_assets.instance.launchers
  class: DelegatingRunLauncher
  config:
    akash:
      maintain_every_s: 1
run_monitoring:
  enabled: true
  start_timeout_seconds: 900
  poll_interval_seconds: 2
concurrency:
  pools:
    default_limit: 2
"""


pytestmark = pytest.mark.e2e  # the Dagster daemon and GPU worker processes


def start_daemon(workspace: Path, env: dict, log: Path) -> subprocess.Popen:
    """The real Dagster daemon (queue, monitoring, the launcher's lease maintenance)."""
    return subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)],
        env=env,
        cwd=ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )


@contextmanager
def akash_stack(base: Path, idle_close_s: float = 600):
    """The toy code location, a daemon with the delegating launcher, the Console stand-in."""
    home, dagster_home = base / ".movie", base / "dagster"
    home.mkdir()
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
    workspace = base / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_file:\n      relative_path: {ROOT / 'tests/akash_location.py'}\n"
        f"      working_directory: {ROOT}\n      location_name: akash_test\n"
    )
    env = {
        **os.environ,
        "MOVIE_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "PYTHONPATH": str(ROOT),
        "MOVIE_GPU_MODELS": "a100@3000",
        "MOVIE_GPU_POLL_S": "0.1",
        "MOVIE_GPU_BID_TIMEOUT_S": "1",
        "MOVIE_GPU_WORKER_SCHEME": "http",
        "MOVIE_GPU_IDLE_CLOSE_S": str(idle_close_s),
    }
    with AkashConsoleStandIn(API_KEY, Scenario(bids_after_polls=2), env=env) as standin:
        daemon_env = env | {"AKASH_CONSOLE_API_KEY": API_KEY, "AKASH_CONSOLE_URL": standin.url}
        daemon_log = base / "daemon.log"
        daemons = [start_daemon(workspace, daemon_env, daemon_log)]

        def stop_daemon() -> None:
            daemons[-1].terminate()
            daemons[-1].wait(30)

        def restart_daemon() -> None:
            daemons.append(start_daemon(workspace, daemon_env, daemon_log.with_suffix(".2.log")))

        old = {k: os.environ.get(k) for k in ("MOVIE_HOME", "DAGSTER_HOME")}
        os.environ.update(MOVIE_HOME=str(home), DAGSTER_HOME=str(dagster_home))
        instance = DagsterInstance.get()
        try:
            yield {
                "instance": instance,
                "standin": standin,
                "submit": lambda job: _submit(workspace, job, env, instance),
                "home": home,
                "daemon_log": daemon_log,
                "stop_daemon": stop_daemon,
                "start_daemon": restart_daemon,
            }
        finally:
            stop_daemon()
            instance.dispose()
            for key, value in old.items():
                os.environ.pop(key) if value is None else os.environ.update({key: value})


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with akash_stack(tmp_path_factory.mktemp("akash")) as started:
        yield started


def _submit(workspace: Path, job: str, env: dict, instance) -> str:
    """Queue a run of `job` the way a user does from the CLI; returns its run id."""
    before = {run.run_id for run in instance.get_runs()}
    launch = ("-m", "dagster", "job", "launch", "-w", str(workspace), "-j", job)
    run_python(*launch, env=env, timeout=180)
    (run_id,) = {run.run_id for run in instance.get_runs()} - before
    return run_id


def _wait(instance, run_id: str, statuses, timeout: float = 240) -> object:
    deadline = time.monotonic() + timeout
    while True:
        run = instance.get_run_by_id(run_id)
        if run.status in statuses:
            return run
        assert time.monotonic() < deadline, f"run {run_id} stuck in {run.status}"
        time.sleep(0.5)


FINISHED = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def _gpu_step_started(instance, run_id: str) -> bool:
    return any(
        e.dagster_event and e.dagster_event.event_type_value == "STEP_START"
        for e in instance.all_logs(run_id)
    )


def test_gpu_run_goes_to_the_lease_and_local_run_stays_local(stack):
    instance, standin, home = stack["instance"], stack["standin"], stack["home"]
    gpu_run = stack["submit"]("gpu_job")
    run = _wait(instance, gpu_run, FINISHED)
    assert run.status == DagsterRunStatus.SUCCESS, _events(instance, gpu_run)
    (dseq,) = standin.deployments
    lease = read_leases()[0]
    assert run.tags[LAUNCHER_TAG] == "akash" and run.tags[DSEQ_TAG] == dseq
    assert run.tags[PROVIDER_TAG] == "akash1provider0a100"
    assert run.tags[WORKER_TAG] == lease.worker_url and lease.secret not in str(run.tags)
    seen = json.loads((home / f"gpu_frame-{gpu_run}.json").read_text())
    assert seen["model_server"] and not seen["has_worker_secret"]
    assert float(seen["usd_per_hour"]) == pytest.approx(lease.usd_per_hour)
    # The run process ran under the worker, not under the daemon's default launcher.
    worker_health = WorkerClient(lease.worker_url, lease.secret).health()
    assert [r["run_id"] for r in worker_health["runs"]] == [gpu_run]
    # GPU seconds and their cost are recorded once the lease's maintainer sees it finished.
    deadline = time.monotonic() + 30
    while GPU_SECONDS_TAG not in instance.get_run_by_id(gpu_run).tags:
        assert time.monotonic() < deadline, "no GPU cost recorded"
        time.sleep(0.5)
    tags = instance.get_run_by_id(gpu_run).tags
    assert float(tags[GPU_SECONDS_TAG]) > 0
    assert float(tags[COST_TAG]) == pytest.approx(
        float(tags[GPU_SECONDS_TAG]) * lease.usd_per_hour / 3600, rel=0.01
    )

    cpu_run = stack["submit"]("cpu_job")
    run = _wait(instance, cpu_run, FINISHED)
    assert run.status == DagsterRunStatus.SUCCESS
    assert run.tags[LAUNCHER_TAG] == "default" and DSEQ_TAG not in run.tags


def test_second_gpu_run_reuses_the_warm_lease(stack):
    instance, standin = stack["instance"], stack["standin"]
    run_id = stack["submit"]("gpu_job")
    run = _wait(instance, run_id, FINISHED)
    assert run.status == DagsterRunStatus.SUCCESS
    assert len(standin.deployments) == 1 and run.tags[DSEQ_TAG] in standin.deployments


def test_cancel_stops_the_run_on_the_worker(stack):
    instance, home = stack["instance"], stack["home"]
    (home / "hold").touch()
    try:
        run_id = stack["submit"]("gpu_job")
        _wait(instance, run_id, (DagsterRunStatus.STARTED,))
        deadline = time.monotonic() + 120
        while not _gpu_step_started(instance, run_id):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        # What the UI's "Terminate" does (GraphQL terminateRun -> run coordinator).
        instance.run_coordinator.cancel_run(run_id)
        run = _wait(instance, run_id, FINISHED, timeout=60)
        assert run.status == DagsterRunStatus.CANCELED
        lease = read_leases()[0]
        worker = WorkerClient(lease.worker_url, lease.secret)
        deadline = time.monotonic() + 30
        while (state := worker.run(run_id))["state"] == "running":
            assert time.monotonic() < deadline, "the run process outlived its cancel"
            time.sleep(0.3)
        assert state["terminated"]
        assert not (home / f"gpu_frame-{run_id}.json").exists()
    finally:
        (home / "hold").unlink(missing_ok=True)


def test_worker_killed_mid_run_fails_the_run_and_a_rerun_completes(stack):
    instance, standin, home = stack["instance"], stack["standin"], stack["home"]
    (home / "hold").touch()
    try:
        run_id = stack["submit"]("gpu_job")
        deadline = time.monotonic() + 120
        while not _gpu_step_started(instance, run_id):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        dseq = instance.get_run_by_id(run_id).tags[DSEQ_TAG]
        standin.kill_worker(dseq)  # the container dies; the provider restarts it empty
    finally:
        (home / "hold").unlink(missing_ok=True)
    run = _wait(instance, run_id, FINISHED, timeout=90)
    assert run.status == DagsterRunStatus.FAILURE
    assert "lost the run" in _events(instance, run_id)
    again = stack["submit"]("gpu_job")
    assert _wait(instance, again, FINISHED).status == DagsterRunStatus.SUCCESS


def test_no_bids_fails_the_run_clearly_and_closes_the_deployment(stack):
    instance, standin = stack["instance"], stack["standin"]
    for lease in read_leases():
        if lease.state != "closed":
            standin.deployments[lease.dseq].state = "closed"  # e.g. escrow ran out
            standin.deployments[lease.dseq].lease["state"] = "insufficient_funds"
    providers, standin.scenario.providers = standin.scenario.providers, []
    try:
        run_id = stack["submit"]("gpu_job")
        run = _wait(instance, run_id, FINISHED, timeout=120)
    finally:
        standin.scenario.providers = providers
    assert run.status == DagsterRunStatus.FAILURE
    assert "no provider bid within 1 s for a100 at <= 3000" in _events(instance, run_id)
    newest = max(standin.deployments.values(), key=lambda d: int(d.dseq))
    assert newest.state == "closed" and newest.lease is None


def test_no_secret_in_event_log_tags_or_logs(stack):
    instance = stack["instance"]
    secrets = [API_KEY] + [lease.secret for lease in read_leases()]
    texts = [stack["daemon_log"].read_text()]
    texts += [path.read_text() for path in stack["standin"].worker_output]
    for run in instance.get_runs():
        texts.append(json.dumps(dict(run.tags)))
        texts.append(_events(instance, run.run_id))
    texts += [
        path.read_text(errors="replace")
        for path in Path(os.environ["DAGSTER_HOME"]).rglob("*")
        if path.is_file() and path.suffix in ("", ".log", ".out", ".err")
    ]
    for text in texts:
        for secret in secrets:
            assert secret not in text


def _events(instance, run_id: str) -> str:
    lines = []
    for entry in instance.all_logs(run_id):
        lines.append(entry.user_message or "")
        if entry.dagster_event is not None:
            lines.append(entry.dagster_event.message or "")
            lines.append(str(entry.dagster_event.event_specific_data))
    return "\n".join(lines)


def test_resume_is_refused_with_the_reason_and_the_way_out():
    from dagster._core.launcher.base import ResumeRunContext
    from dagster._core.storage.dagster_run import DagsterRun

    from movie_assets.instance.launchers import DelegatingRunLauncher

    launcher = DelegatingRunLauncher()
    assert not launcher.supports_resume_run  # so Dagster refuses max_resume_run_attempts > 0
    with pytest.raises(NotImplementedError) as refused:
        launcher.resume_run(ResumeRunContext(DagsterRun(job_name="render", run_id="r-1"), None))
    message = str(refused.value)
    assert "run r-1" in message and "max_resume_run_attempts at 0" in message
    assert "movie regenerate" in message
    production = (ROOT / "dagster.production.yaml").read_text()
    assert "max_resume_run_attempts: 0" in production
