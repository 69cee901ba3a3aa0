"""Local runs that start in milliseconds: forked from a process that has already loaded the code.

Dagster's DefaultRunLauncher has the code server start `dagster api execute_run` in a fresh Python
process for every run, which imports Dagster and the code location again: about 3 s a run on a
2-core machine, longer than many of our steps, paid once per partition. `WarmRunLauncher` keeps
one *run forker* per launching process (the daemon): a child that imports Dagster and the code
location's modules once, then forks one process per run. The fork executes exactly what
`dagster api execute_run` executes, with the same ExecuteRunArgs.

Run processes are detached (their own session), so a daemon restart leaves running runs alone.
Each run records its process in the `movie/worker` tag (host:pid:start time): any process on
this host can check the run's health and terminate it, the webserver included. The tag is
written before the run can start: a forked run process waits on a pipe until the launcher has
recorded it and says go (a monitoring check in between would otherwise see a running run with
no process); if the launcher fails or the forker dies first, the pipe closes and the process
exits without running anything. The forker and
its runs do not inherit the Akash Console API key: it stays with the daemon.

The forker speaks JSON lines on its stdin and stdout:
    -> {"execute_run_args": "<serialized ExecuteRunArgs>", "env": {...}, "exit_file": "..."}
    <- {"pid": 1234}                       or {"error": "..."}   (the process waits)
    -> {"go": 1234}  or  {"drop": 1234}
    <- {"ok": true}                        or {"error": "..."}
`env` (optional) is added to the run process's environment; `exit_file` (optional) receives the
run's exit code when it ends (the run process is not the caller's child, so nobody can wait()
for it). The GPU worker on a lease (gpu_jobs/worker.py) starts its runs through a forker too.
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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gpu_jobs.console_api import without_api_key


class ForkerFailed(RuntimeError):
    """The run forker could not start a run (it died, or could not load the code)."""


class RunForker:
    """The launching side: starts the forker at first use and asks it for run processes."""

    def __init__(
        self, preload_modules: Sequence[str], env: Mapping[str, str] | None = None
    ) -> None:
        self.preload_modules = list(preload_modules)
        self.env = env  # the forker's (and so every run's) environment; default: ours
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()  # the daemon may launch from several threads

    def _ensure_started(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        process = subprocess.Popen(
            [sys.executable, "-m", "gpu_jobs.run_forker", *self.preload_modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # The Console API key is the daemon's alone: no run process gets it.
            env=without_api_key(os.environ if self.env is None else self.env),
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

    def start_forker(self) -> None:
        """Start the forker ahead of the first run (it loads the code once)."""
        with self._lock:
            self._ensure_started()

    def _ask(self, request: dict) -> dict:
        process = self._ensure_started()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            reply = process.stdout.readline()
        except (BrokenPipeError, OSError) as error:
            raise ForkerFailed(f"the run forker is gone: {error}") from error
        if not reply:
            raise ForkerFailed(f"the run forker exited with code {process.wait()}")
        answer = json.loads(reply)
        if "error" in answer:
            raise ForkerFailed(answer["error"])
        return answer

    def start_run(
        self,
        execute_run_args: str,
        env: dict[str, str] | None = None,
        exit_file: str | None = None,
    ) -> int:
        """Fork a process for the run; returns its pid. The process waits: `release(pid)` lets
        it execute the run (after the caller recorded it), `release(pid, go=False)` ends it."""
        request: dict[str, Any] = {"execute_run_args": execute_run_args}
        if env:
            request["env"] = env
        if exit_file:
            request["exit_file"] = exit_file
        with self._lock:
            return int(self._ask(request)["pid"])

    def release(self, pid: int, go: bool = True) -> None:
        with self._lock:
            self._ask({"go": pid} if go else {"drop": pid})

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

# ---------------------------------------------------------------------------------------------
# The forker process


def _execute(execute_run_args: str, go: int, env: dict[str, str], exit_file: str | None) -> None:
    """In the forked run process: wait for go, run `dagster api execute_run`'s body, then exit."""
    code = 1
    try:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        if os.read(go, 1) != b"1":  # dropped, or the forker died: never run
            os._exit(3)
        os.close(go)
        os.environ.update(env)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from resources.runtime.dagster_private import execute_run_command, setup_interrupt_handlers

        setup_interrupt_handlers()  # SIGTERM interrupts the run, as in `dagster api execute_run`
        execute_run_command.callback(input_json=execute_run_args, compressed_input_json=None)
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        if exit_file:
            try:
                Path(exit_file).write_text(str(code))
            except OSError:
                pass
        os._exit(code)


# pid -> the write end of that waiting run process's go pipe
_waiting: dict[int, int] = {}


def _fork_run(request: dict[str, Any], replies: int) -> int:
    """Double fork: the run process is not our child (nobody has to reap it) and leads its own
    session, so neither the daemon's exit nor a Ctrl-C in its terminal reaches it. It waits on
    a pipe whose write end only this forker holds (see `_release`)."""
    env = request.get("env") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ValueError("env: names and values must be strings")
    read_end, write_end = os.pipe()
    go_read, go_write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        os.close(go_write)
        for other in _waiting.values():  # other runs' go pipes: only the forker holds them
            os.close(other)
        run = os.fork()
        if run == 0:
            os.close(write_end)
            os.close(replies)
            os.setsid()  # its own session and process group, led by the run process
            _execute(request["execute_run_args"], go_read, env, request.get("exit_file"))
        os.write(write_end, str(run).encode())
        os._exit(0)
    os.close(write_end)
    os.close(go_read)
    os.waitpid(child, 0)
    with os.fdopen(read_end) as reply:
        pid = int(reply.read())
    _waiting[pid] = go_write
    return pid


def _release(pid: int, go: bool) -> None:
    fd = _waiting.pop(pid, None)
    if fd is None:
        raise ValueError(f"no run process {pid} is waiting")
    try:
        if go:
            os.write(fd, b"1")
    finally:
        os.close(fd)


def serve(preload_modules: Sequence[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when we stop (stdin EOF)
    import dagster._cli.api  # noqa: F401  (what every run needs, loaded once)

    # Replies go through a copy of stdout; stdout itself becomes stderr, so a print in the code
    # (or in a run) never corrupts a reply.
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for module in preload_modules:
        try:
            importlib.import_module(module)
        except Exception:  # runs then load it themselves, and report the error if it persists
            sys.stderr.write(f"run forker: could not preload {module}; runs will import it:\n")
            traceback.print_exc()
    replies.write("{}\n")
    replies.flush()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            answer: dict[str, Any]
            if "go" in request or "drop" in request:
                _release(int(request.get("go", request.get("drop"))), "go" in request)
                answer = {"ok": True}
            else:
                answer = {"pid": _fork_run(request, replies.fileno())}
        except Exception as error:  # one bad request must not stop the forker
            answer = {"error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(answer) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve(sys.argv[1:])

