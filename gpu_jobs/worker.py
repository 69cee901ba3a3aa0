"""The worker on a GPU lease: a small HTTP service that runs Dagster runs it is handed.

Every route but the bare liveness probe is signed (gpu_jobs.signing) with the lease's secret,
which arrives in MOVIE_WORKER_SECRET and is removed from the environment the runs inherit.

    GET  /healthz                  liveness only, reveals nothing
    GET  /health                   runs and the model server's load counts (signed)
    POST /runs                     {run_id, execute_run_args, usd_per_hour} -> start (signed)
    GET  /runs/<run_id>            status, exit code, GPU seconds (signed)
    POST /runs/<run_id>/terminate  stop the run's process group (signed)

A run executes what `dagster api execute_run` executes, forked from a warm run forker
(gpu_jobs/run_forker.py) that imported Dagster and the modules in MOVIE_WORKER_PRELOAD (default:
the code location, movie_assets.definitions) once for the lease's lifetime, so no run pays for
those imports again; its arguments (they hold the instance ref) go through the forker's pipe,
never a command line. Each run leads its own process group; its exit code is written to a file
of the worker's, since a forked run is not the worker's child. The worker also keeps one model
server process
(gpu_jobs.model_server) alive for the lease's lifetime, so pipelines stay loaded between runs;
runs reach it through MOVIE_MODEL_SERVER_URL.

Run: python -m gpu_jobs.worker [--port 8080]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gpu_jobs.run_forker import ForkerFailed, RunForker
from gpu_jobs.signing import SignatureError, Verifier
from resources.producers.diffusers.lease_env import GPU_PRICE_ENV, MODEL_SERVER_URL_ENV
from resources.runtime.processes import process_token, token_dead

SECRET_ENV = "MOVIE_WORKER_SECRET"
PRELOAD_ENV = "MOVIE_WORKER_PRELOAD"
DEFAULT_PRELOAD = "movie_assets.definitions"
_RUN_PATH = re.compile(r"^/runs/([A-Za-z0-9-]{1,64})(/terminate)?$")
_MAX_BODY = 4 << 20
TERMINATE_GRACE_S = 20.0


@dataclass
class RunProcess:
    """A forked run: its process (pid and start time) and the file its exit code lands in."""

    run_id: str
    pid: int
    token: str
    exit_file: Path
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    terminated: bool = False
    code: int | None = None

    def poll(self) -> int | None:
        if self.code is None and token_dead(self.token):
            try:
                self.code = int(self.exit_file.read_text())
            except (OSError, ValueError):
                self.code = -signal.SIGKILL  # died without a word: killed
        if self.code is not None and self.ended is None:
            self.ended = time.monotonic()
        return self.code

    def describe(self) -> dict:
        code = self.poll()
        return {
            "run_id": self.run_id,
            "state": "running" if code is None else "exited",
            "returncode": code,
            "terminated": self.terminated,
            "gpu_seconds": round((self.ended or time.monotonic()) - self.started, 3),
        }


class Worker:
    """Starts, watches and stops run processes; owns the warm model server."""

    def __init__(self, env: dict[str, str], model_server: subprocess.Popen | None = None) -> None:
        # Runs get the lease's environment minus the worker's own secret.
        self.run_env = {k: v for k, v in env.items() if k != SECRET_ENV}
        self.model_server = model_server
        self.runs: dict[str, RunProcess] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        preload = self.run_env.get(PRELOAD_ENV, DEFAULT_PRELOAD)
        self.forker = RunForker([m.strip() for m in preload.split(",") if m.strip()], self.run_env)
        self._exits = Path(tempfile.mkdtemp(prefix="movie-worker-runs-"))

    def start_run(self, run_id: str, execute_run_args: str, usd_per_hour: float) -> RunProcess:
        with self._lock:
            current = self.runs.get(run_id)
            if current is not None and current.poll() is None:
                raise ValueError(f"run {run_id} is already running here")
            exit_file = self._exits / f"{run_id}.{len(self.runs)}.exit"
            try:
                pid = self.forker.start_run(
                    execute_run_args,
                    {GPU_PRICE_ENV: repr(float(usd_per_hour))},
                    str(exit_file),
                )
            except ForkerFailed as error:
                raise RuntimeError(
                    f"the run forker could not start run {run_id}: {error}"
                ) from None
            try:
                run = RunProcess(run_id, pid, process_token(pid), exit_file)
            finally:
                self.forker.release(pid)  # recorded: it may start
            self.runs[run_id] = run
            return run

    def warm_up(self) -> None:
        """Start the run forker now (it imports the code once), so the first run is fast too."""
        try:
            self.forker.start_forker()  # the forker's own lock: a run asked meanwhile waits
        except ForkerFailed as error:
            sys.stderr.write(f"worker: run forker: {error}\n")  # the first run will say so

    def terminate(self, run_id: str) -> RunProcess:
        run = self.runs[run_id]
        if run.poll() is None:
            run.terminated = True
            # SIGTERM is Dagster's interrupt: the run reports itself canceled, then exits.
            _signal_group(run.pid, signal.SIGTERM)
            threading.Thread(target=self._kill_after_grace, args=(run,), daemon=True).start()
        return run

    def _kill_after_grace(self, run: RunProcess) -> None:
        deadline = time.monotonic() + TERMINATE_GRACE_S
        while run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if run.poll() is None:
            _signal_group(run.pid, signal.SIGKILL)

    def health(self) -> dict:
        from resources.producers.diffusers.model_client import fetch_stats

        url = self.run_env.get(MODEL_SERVER_URL_ENV)
        return {
            "uptime_s": round(time.monotonic() - self.started, 1),
            "runs": [run.describe() for run in self.runs.values()],
            "model_server": fetch_stats(url) if url else None,
        }

    def shutdown(self) -> None:
        for run in self.runs.values():
            if run.poll() is None:
                _signal_group(run.pid, signal.SIGKILL)
        self.forker.close()
        if self.model_server is not None and self.model_server.poll() is None:
            self.model_server.terminate()


def _signal_group(pid: int, sig: int) -> None:
    """The run leads its own process group (its steps and their ffmpeg children are in it)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def make_handler(worker: Worker, verifier: Verifier) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "movie-gpu-worker"

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            # Request lines only (no headers, no bodies): signatures stay out of logs.
            sys.stderr.write(f"worker: {self.command} {self.path.split('?')[0]}\n")

        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authenticated_body(self) -> bytes | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                self._reply(413, {"error": "body too large"})
                return None
            body = self.rfile.read(length) if length else b""
            try:
                verifier.verify(self.command, self.path, self.headers, body)
            except SignatureError as refusal:
                self._reply(401, {"error": str(refusal)})
                return None
            return body

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._reply(200, {"ok": True})
                return
            if self._authenticated_body() is None:
                return
            if self.path == "/health":
                self._reply(200, worker.health())
                return
            match = _RUN_PATH.match(self.path)
            if match and not match.group(2):
                run = worker.runs.get(match.group(1))
                if run is None:
                    self._reply(404, {"error": "unknown run"})
                else:
                    self._reply(200, run.describe())
                return
            self._reply(404, {"error": "no such route"})

        def do_POST(self) -> None:
            body = self._authenticated_body()
            if body is None:
                return
            if self.path == "/runs":
                try:
                    request = json.loads(body)
                    run_id = str(request["run_id"])
                    run = worker.start_run(
                        run_id, str(request["execute_run_args"]), request.get("usd_per_hour", 0.0)
                    )
                except (ValueError, KeyError, TypeError) as error:
                    self._reply(
                        409 if "already running" in str(error) else 400, {"error": str(error)}
                    )
                    return
                except RuntimeError as error:  # the forker failed: this lease cannot run it
                    self._reply(503, {"error": str(error)})
                    return
                self._reply(201, run.describe())
                return
            match = _RUN_PATH.match(self.path)
            if match and match.group(2):
                if match.group(1) not in worker.runs:
                    self._reply(404, {"error": "unknown run"})
                else:
                    self._reply(200, worker.terminate(match.group(1)).describe())
                return
            self._reply(404, {"error": "no such route"})

    return Handler


def start_model_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """Start the warm model server on a loopback port and wait until it answers."""
    from resources.producers.diffusers.model_client import wait_ready

    process = subprocess.Popen(
        [sys.executable, "-m", "gpu_jobs.model_server", "--port", "0", "--announce"],
        env={k: v for k, v in env.items() if k != SECRET_ENV},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()  # the server prints its URL once bound
    if not url.startswith("http://127.0.0.1:"):
        process.kill()
        raise RuntimeError("model server did not start")
    wait_ready(url)
    return process, url


def serve(port: int, env: dict[str, str] | None = None, with_model_server: bool = True) -> None:
    env = dict(os.environ if env is None else env)
    secret = env.get(SECRET_ENV, "")
    if not secret:
        raise SystemExit(f"{SECRET_ENV} is not set: the worker refuses to start unauthenticated")
    verifier = Verifier(secret)
    model_server = None
    if with_model_server:
        model_server, url = start_model_server(env)
        env[MODEL_SERVER_URL_ENV] = url
    worker = Worker(env, model_server)
    threading.Thread(target=worker.warm_up, daemon=True).start()
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(worker, verifier))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    sys.stderr.write(f"worker: listening on port {server.server_address[1]}\n")
    try:
        server.serve_forever()
    finally:
        worker.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--no-model-server", action="store_true")
    options = parser.parse_args()
    serve(options.port, with_model_server=not options.no_model_server)


if __name__ == "__main__":
    main()
