"""Ctrl-C and SIGTERM stop a build quietly: one line, no traceback from the CLI, its workers or
the helpers runs start; exit 130 / 143; no run left marked as running; the same command resumes
and pays no provider call twice."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from movie_assets.orchestration.interrupts import MESSAGE
from tests.test_generate import movie_cli
from tests.test_reliability import _duplicates, _instance, _ledger, _spawn

ACTIVE = [
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.NOT_STARTED,
]


pytestmark = pytest.mark.e2e  # signals to running builds


def _interrupt_mid_build(
    home: Path, args: tuple[str, ...], calls_first: int, send
) -> subprocess.CompletedProcess:
    """Start `movie *args` in its own process group, wait until `calls_first` provider calls are
    recorded (the build is well under way) and a run is executing, then `send(process)`."""
    proc = _spawn(home, *args)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and len(_ledger(home)) < calls_first:
        assert proc.poll() is None, "the build ended before it could be interrupted"
        time.sleep(0.2)
    # Between two levels no run executes, and an interrupt there has no run to stop.
    instance = _instance(home)
    started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    while time.monotonic() < deadline and not instance.get_runs(filters=started):
        assert proc.poll() is None, "the build ended before it could be interrupted"
        time.sleep(0.05)
    assert proc.poll() is None, "the build ended before it could be interrupted"
    send(proc)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _assert_quiet(done: subprocess.CompletedProcess, code: int) -> None:
    terminal = done.stdout + done.stderr
    assert done.returncode == code, terminal[-3000:]
    assert "Traceback" not in terminal, terminal[-3000:]
    assert "KeyboardInterrupt" not in terminal, terminal[-3000:]
    assert terminal.count(MESSAGE) == 1, terminal[-3000:]
    assert "full trace" not in terminal  # no log path is offered for an interrupt


def _assert_no_run_left_running(home: Path) -> None:
    instance = _instance(home)
    left = instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE))
    assert not left, [(run.job_name, run.status) for run in left]


def test_ctrl_c_to_the_process_group_stops_workers_quietly_and_resume_pays_nothing_twice(
    tmp_path,
):
    home = tmp_path / ".movie"
    # 30 s: three segments, so the levels run on the pool of worker processes.
    args = ("generate", "Stop me midway", "--duration", "30", "--images-per-segment", "1")
    args += ("--id", "ctrl-c")
    done = _interrupt_mid_build(home, args, 3, lambda proc: os.killpg(proc.pid, signal.SIGINT))
    _assert_quiet(done, 130)
    _assert_no_run_left_running(home)
    instance = _instance(home)
    stopped = [
        run
        for run in instance.get_runs()
        if run.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
    ]
    assert stopped, "the interrupted runs are not marked"
    paid = len(_ledger(home))

    resumed = movie_cli(home, *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert Path(resumed.stdout.strip().splitlines()[-1]).exists()
    assert len(_ledger(home)) >= paid
    assert not _duplicates(home), _duplicates(home)


def test_sigterm_stops_an_in_process_build_with_exit_143_and_resumes(tmp_path):
    home = tmp_path / ".movie"
    # 10 s: one partition per level, so the runs execute in the CLI's own process.
    args = ("generate", "Terminate me", "--duration", "10", "--images-per-segment", "1")
    args += ("--id", "sigterm")
    done = _interrupt_mid_build(home, args, 1, lambda proc: proc.send_signal(signal.SIGTERM))
    _assert_quiet(done, 143)
    _assert_no_run_left_running(home)

    resumed = movie_cli(home, *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not _duplicates(home), _duplicates(home)
