"""Local runs that start in milliseconds: forked from a process that has already loaded the code.

Dagster's DefaultRunLauncher has the code server start `dagster api execute_run` in a fresh Python
process for every run, which imports Dagster and the code location again: about 3 s a run on a
2-core machine, longer than many of our steps, paid once per partition. `WarmRunLauncher` keeps
one *run forker* per launching process (the daemon): a child that imports Dagster and the code
location's modules once, then forks one process per run. The fork executes exactly what
`dagster api execute_run` executes, with the same ExecuteRunArgs.

Run processes are detached (their own session), so a daemon restart leaves running runs alone.
Each run records its process in the `movie/worker` tag (host:pid:start time): any process on
this host can check the run's health and terminate it, the webserver included. The forker and
its runs do not inherit the Akash Console API key: it stays with the daemon.

The forker speaks JSON lines on its stdin and stdout:
    -> {"execute_run_args": "<serialized ExecuteRunArgs>"}
    <- {"pid": 1234}                       or {"error": "..."}
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

from dagster import Array, Field, StringSource
from dagster._core.launcher.base import (
    CheckRunHealthResult,
    LaunchRunContext,
    WorkerStatus,
)
from dagster._core.storage.dagster_run import DagsterRun
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

from gpu_jobs.console_api import without_api_key
from gpu_jobs.launcher_base import ConfiguredRunLauncher
from resources.processes import WORKER_TAG, process_token, token_dead, token_pid


class ForkerFailed(RuntimeError):
    """The run forker could not start a run (it died, or could not load the code)."""


class RunForker:
    """The launching side: starts the forker at first use and asks it for run processes."""

    def __init__(self, preload_modules: Sequence[str]) -> None:
        self.preload_modules = list(preload_modules)
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()  # the daemon may launch from several threads

    def _ensure_started(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        process = subprocess.Popen(
            [sys.executable, "-m", "gpu_jobs.warm_runs", *self.preload_modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=without_api_key(os.environ),  # the daemon's alone: no run process gets it
            text=True,
        )
        assert process.stdout is not None
        ready = process.stdout.readline()
        if not ready:
            raise ForkerFailed(
                f"the run forker exited with code {process.wait()} while loading "
                f"{', '.join(self.preload_modules)}: see the daemon's log"
            )
        self._process = process
        return process

    def start_run(self, execute_run_args: str) -> int:
        """Fork a process that executes the run; returns its pid."""
        with self._lock:
            process = self._ensure_started()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps({"execute_run_args": execute_run_args}) + "\n")
                process.stdin.flush()
                reply = process.stdout.readline()
            except (BrokenPipeError, OSError) as error:
                raise ForkerFailed(f"the run forker is gone: {error}") from error
            if not reply:
                raise ForkerFailed(f"the run forker exited with code {process.wait()}")
            answer = json.loads(reply)
            if "error" in answer:
                raise ForkerFailed(answer["error"])
            return int(answer["pid"])

    def close(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                assert self._process.stdin is not None
                self._process.stdin.close()  # the forker exits at end of input
                try:
                    self._process.wait(10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
            self._process = None


class WarmRunLauncher(ConfiguredRunLauncher):
    """Runs on this host, forked from a warm process (see the module's docstring)."""

    def __init__(self, preload_modules: Sequence[str] = ()) -> None:
        self.forker = RunForker(preload_modules)
        super().__init__()

    @classmethod
    def config_type(cls) -> dict:
        return {
            "preload_modules": Field(Array(StringSource), is_required=False, default_value=[]),
        }

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if run.job_code_origin is None:
            raise ForkerFailed(f"run {run.run_id} has no code origin to load its job from")
        args = ExecuteRunArgs(
            job_origin=run.job_code_origin,
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
            set_exit_code_on_failure=True,
        )
        pid = self.forker.start_run(serialize_value(args))
        self._instance.add_run_tags(run.run_id, {WORKER_TAG: process_token(pid)})

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        token = run.tags.get(WORKER_TAG) if run else None
        if run is None or token is None or run.is_finished:
            return False
        pid = token_pid(token)
        if pid is None or token_dead(token):
            return False  # another host's run, or its process is already gone
        self._instance.report_run_canceling(run)
        # Dagster's run worker turns SIGTERM into an interrupt: steps stop, the run is canceled.
        # The run leads its own process group, so its ffmpeg children get the signal too.
        os.killpg(pid, signal.SIGTERM)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        token = run.tags.get(WORKER_TAG)
        if token is None:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, "no run process recorded")
        if token_pid(token) is None:
            raise RuntimeError(f"run process {token} is on another host: cannot check it here")
        if token_dead(token):
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"the run's process ({token}) is gone: killed or crashed"
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def dispose(self) -> None:
        self.forker.close()


# ---------------------------------------------------------------------------------------------
# The forker process


def _execute(execute_run_args: str) -> None:
    """In the forked run process: run `dagster api execute_run`'s body, then exit."""
    code = 1
    try:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from dagster._cli.api import execute_run_command
        from dagster._utils.interrupts import setup_interrupt_handlers

        setup_interrupt_handlers()  # SIGTERM interrupts the run, as in `dagster api execute_run`
        execute_run_command.callback(input_json=execute_run_args, compressed_input_json=None)
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _fork_run(execute_run_args: str, replies: int) -> int:
    """Double fork: the run process is not our child (nobody has to reap it) and leads its own
    session, so neither the daemon's exit nor a Ctrl-C in its terminal reaches it."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        run = os.fork()
        if run == 0:
            os.close(write_end)
            os.close(replies)
            os.setsid()  # its own session and process group, led by the run process
            _execute(execute_run_args)
        os.write(write_end, str(run).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end) as reply:
        return int(reply.read())


def serve(preload_modules: Sequence[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when we stop (stdin EOF)
    import dagster._cli.api  # noqa: F401  (what every run needs, loaded once)

    # Replies go through a copy of stdout; stdout itself becomes stderr, so a print in the code
    # (or in a run) never corrupts a reply.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for module in preload_modules:
        importlib.import_module(module)
    replies.write("{}\n")
    replies.flush()
    for line in sys.stdin:
        try:
            answer: dict[str, Any] = {
                "pid": _fork_run(json.loads(line)["execute_run_args"], replies.fileno())
            }
        except Exception as error:  # one bad request must not stop the forker
            answer = {"error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(answer) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve(sys.argv[1:])
