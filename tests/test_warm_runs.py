"""Runs forked from a warm process (movie_assets/instance/warm_launcher.py), with a real Dagster
instance: they
execute and succeed without loading the code again, a terminate cancels the run and stops its
process, a killed run process is reported by the health check, and the Console API key does not
reach the runs."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.launcher.base import WorkerStatus
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

from movie_assets.instance.warm_launcher import WORKER_TAG, WarmRunLauncher
from resources.runtime.processes import process_alive, token_pid
from tests.warm_jobs import IMPORTS_ENV, report_job

_FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


pytestmark = pytest.mark.e2e  # forked run processes, killed and cancelled


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv(IMPORTS_ENV, str(tmp_path / "imports.txt"))
    monkeypatch.setenv("AKASH_CONSOLE_API_KEY", "console-key-" + "k" * 24)
    with dg.instance_for_test(
        temp_dir=str(tmp_path),
        overrides={
            "run_launcher": {
                "module": "movie_assets.instance.warm_launcher",
                "class": "WarmRunLauncher",
                "config": {"preload_modules": ["tests.warm_jobs"]},
            }
        },
    ) as instance:
        yield instance


def launch(instance: dg.DagsterInstance, out: Path, sleep_s: float = 0.0) -> dg.DagsterRun:
    recon = dg.reconstructable(report_job)
    run = instance.create_run_for_job(
        job_def=report_job,
        run_config={"ops": {"report_process": {"config": {"out": str(out), "sleep_s": sleep_s}}}},
        job_code_origin=recon.get_python_origin(),
    )
    return instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]


def wait_until_finished(
    instance: dg.DagsterInstance, run_id: str, timeout_s: float = 60
) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status in _FINISHED:
            return run
        time.sleep(0.2)
    pytest.fail(f"run {run_id} did not finish in {timeout_s} s")


def wait_for(path: Path, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return json.loads(path.read_text())
        time.sleep(0.1)
    pytest.fail(f"{path} was not written in {timeout_s} s")


def test_runs_fork_from_one_warm_process_without_loading_the_code_again(instance, tmp_path):
    launcher = instance.run_launcher
    assert isinstance(launcher, WarmRunLauncher)
    reports = []
    for name in ("one", "two"):
        run = launch(instance, tmp_path / f"{name}.json")
        finished = wait_until_finished(instance, run.run_id)
        assert finished.status == dg.DagsterRunStatus.SUCCESS
        reports.append(wait_for(tmp_path / f"{name}.json"))
        assert token_pid(finished.tags[WORKER_TAG]) == reports[-1]["pid"]
    forker = launcher.forker._process
    assert forker is not None and forker.poll() is None
    # Each run had its own process, neither the test's nor the forker's...
    pids = {report["pid"] for report in reports}
    assert len(pids) == 2 and os.getpid() not in pids and forker.pid not in pids
    # ...and only the forker imported the job's module (the test process imported it too).
    imported = set((tmp_path / "imports.txt").read_text().split())
    assert imported <= {str(os.getpid()), str(forker.pid)} and str(forker.pid) in imported
    # The Console API key stays with the launching process.
    assert all(report["api_key"] is None for report in reports)


def test_a_run_process_waits_until_the_launcher_has_recorded_it(instance, tmp_path):
    forker = instance.run_launcher.forker
    recon = dg.reconstructable(report_job)

    def held(out: Path) -> tuple[dg.DagsterRun, int]:
        run = instance.create_run_for_job(
            job_def=report_job,
            run_config={"ops": {"report_process": {"config": {"out": str(out), "sleep_s": 0.0}}}},
            job_code_origin=recon.get_python_origin(),
        )
        args = ExecuteRunArgs(
            job_origin=run.job_code_origin, run_id=run.run_id, instance_ref=instance.get_ref()
        )
        exit_file = str(out) + ".exit"
        return run, forker.start_run(serialize_value(args), {"WARM_RUNS_PROBE": "42"}, exit_file)

    run, pid = held(tmp_path / "held.json")
    time.sleep(1.5)  # the process exists, but nothing of the run has started
    assert process_alive(pid) and not (tmp_path / "held.json").exists()
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.NOT_STARTED
    forker.release(pid)
    assert wait_until_finished(instance, run.run_id).status == dg.DagsterRunStatus.SUCCESS
    report = wait_for(tmp_path / "held.json")
    assert report["pid"] == pid and report["probe"] == "42"  # the env given for this run
    deadline = time.monotonic() + 10
    while not Path(f"{tmp_path}/held.json.exit").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Path(f"{tmp_path}/held.json.exit").read_text() == "0"
    # A dropped process (the launcher failed to record it) ends without running anything.
    dropped, pid = held(tmp_path / "dropped.json")
    forker.release(pid, go=False)
    deadline = time.monotonic() + 10
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(pid) and not (tmp_path / "dropped.json").exists()
    assert instance.get_run_by_id(dropped.run_id).status == dg.DagsterRunStatus.NOT_STARTED
    # Through the launcher, the tag names the run's process before the run starts.
    launched = launch(instance, tmp_path / "tagged.json")
    assert WORKER_TAG in instance.get_run_by_id(launched.run_id).tags
    finished = wait_until_finished(instance, launched.run_id)
    assert token_pid(finished.tags[WORKER_TAG]) == wait_for(tmp_path / "tagged.json")["pid"]


def test_terminate_cancels_the_run_and_stops_its_process(instance, tmp_path):
    run = launch(instance, tmp_path / "long.json", sleep_s=120)
    pid = wait_for(tmp_path / "long.json")["pid"]
    assert instance.run_launcher.terminate(run.run_id)
    finished = wait_until_finished(instance, run.run_id, timeout_s=30)
    assert finished.status == dg.DagsterRunStatus.CANCELED
    deadline = time.monotonic() + 10
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(pid)
    assert not instance.run_launcher.terminate(run.run_id)  # a finished run is not terminated


def test_a_killed_run_process_is_reported_failed_by_the_health_check(instance, tmp_path):
    run = launch(instance, tmp_path / "doomed.json", sleep_s=120)
    pid = wait_for(tmp_path / "doomed.json")["pid"]
    launcher = instance.run_launcher
    current = instance.get_run_by_id(run.run_id)
    assert launcher.check_run_worker_health(current).status == WorkerStatus.RUNNING
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    health = launcher.check_run_worker_health(current)
    assert health.status == WorkerStatus.FAILED and "gone" in (health.msg or "")


def test_a_module_that_fails_to_preload_does_not_stop_the_forker():
    from gpu_jobs.run_forker import RunForker

    forker = RunForker(["no_such_module_for_the_forker"])
    try:
        pid = forker.start_run("not serialized args")  # the forker still forks runs
        assert pid > 0
        forker.release(pid, go=False)
    finally:
        forker.close()


def test_movie_ui_stops_the_runs_its_launcher_started_and_no_cli_build(instance, tmp_path):
    """The warm launcher detaches its runs from `dagster dev`, so `movie ui` finds them by their
    tags when it stops; a CLI build's run (no launcher tag) in the same instance is not its."""
    import subprocess
    import sys

    from movie_assets.cli.ui import local_run_processes, stop_tree
    from resources.runtime.processes import process_token

    run = launch(instance, tmp_path / "ui-run.json", sleep_s=120)
    pid = wait_for(tmp_path / "ui-run.json")["pid"]
    cli_build = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        instance.add_run(
            dg.DagsterRun(
                job_name=report_job.name,
                status=dg.DagsterRunStatus.STARTED,
                tags={WORKER_TAG: process_token(cli_build.pid)},
            )
        )
        assert local_run_processes(instance) == [pid]
        stop_tree(stand_in.pid, also=local_run_processes(instance))
        assert wait_until_finished(instance, run.run_id, timeout_s=30).status in _FINISHED
        assert not process_alive(pid)
        assert cli_build.poll() is None, "a CLI build is not the UI's to stop"
    finally:
        for process in (cli_build, stand_in):
            process.kill()
            process.wait()
