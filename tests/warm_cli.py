"""`movie` commands for the tests, each in its own process, forked from a warm one.

A `movie` process spends about 2 CPU-s importing Dagster, the command line and the libraries
the code location needs before it does anything; the end-to-end tests run a couple of hundred
commands. So each pytest worker starts one server process that imports them once, and every
command is a child forked from it: its own process, with its own environment, working folder,
stdin, stdout and stderr files and exit status, running `movie_assets.cli.main.run` exactly as
`python -m movie_assets.cli` does after its imports.

Only the command line and third-party modules are imported in the server; the code location
(`movie_assets.definitions` and the assets) is imported by each command, under its own
environment, because some of it reads the environment at import.

Commands that run side by side (`spawn_movie`) are forked the same way, so their builds overlap
rather than their interpreters' start-up. The tests about the process itself (signals, kills,
the console script) start real subprocesses; so does every command when MOVIE_TESTS_COLD_CLI=1.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Imported once by the server: the command line and what the code location imports that does
# not read the environment at import (measured: everything but ~0.3 CPU-s of a command's imports).
PRELOAD = (
    "movie_assets.cli.main",
    "dagster._core.storage.sqlite_storage",
    "numpy",
    "PIL.Image",
    "PIL.ImageDraw",
    "PIL.ImageFont",
    "pydub",
    "imageio_ffmpeg",
    "sqlite3",
)


def _send(sock: socket.socket, payload: dict) -> None:
    data = json.dumps(payload).encode()
    sock.sendall(struct.pack("!I", len(data)) + data)


def _receive(sock: socket.socket) -> dict | None:
    header = _read_exactly(sock, 4)
    if header is None:
        return None
    data = _read_exactly(sock, struct.unpack("!I", header)[0])
    return None if data is None else json.loads(data)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return chunks


# ---------------------------------------------------------------------------------------------
# The server (runs in its own process: python -m tests.warm_cli SOCKET PARENT_PID)


def _run_command(request: dict) -> None:
    """In the forked child: become the command's process, run it, never return."""
    code = 1
    try:
        if request.get("new_session"):
            os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        stdin = os.open(os.devnull, os.O_RDONLY)
        stdout = os.open(request["stdout"], os.O_WRONLY)
        stderr = os.open(request["stderr"], os.O_WRONLY)
        for source, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            os.dup2(source, target)
            os.close(source)
        sys.argv = ["movie", *request["args"]]
        from movie_assets.cli.main import run

        run()  # exits the process: os._exit after the exit handlers, or SystemExit
        code = 0
    except SystemExit as done:
        # run() left work running in other threads: as the interpreter would, wait for them
        # and run the exit handlers.
        for thread in threading.enumerate():
            if not thread.daemon and thread is not threading.main_thread():
                thread.join()
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        atexit._run_exitfuncs()
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(path: str, parent: int) -> None:
    import importlib
    import warnings

    with warnings.catch_warnings():
        # pydub warns at import when ffmpeg is not on PATH; the product imports it the same
        # way (resources/producers/music/procedural.py), so no command would show it.
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in PRELOAD:
            importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    running: dict[int, socket.socket] = {}
    while os.getppid() == parent:  # the pytest worker is gone: so is this server
        for _key, _ in selector.select(timeout=0.05):
            conn, _ = listener.accept()
            request = _receive(conn)
            if request is None:
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:
                selector.close()
                listener.close()
                conn.close()
                _run_command(request)
            running[pid] = conn
            _send(conn, {"pid": pid})
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = running.pop(pid, None)
            if conn is not None:
                _send(conn, {"returncode": os.waitstatus_to_exitcode(status)})
                conn.close()


# ---------------------------------------------------------------------------------------------
# The client (in the pytest worker)

_server: dict = {}
_lock = threading.Lock()


def _start_server() -> str:
    with _lock:
        if _server.get("process") is not None and _server["process"].poll() is None:
            return _server["path"]
        folder = tempfile.mkdtemp(prefix="warm-cli-")
        path = os.path.join(folder, "socket")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.warm_cli", path, str(os.getpid())],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the warm `movie` server did not start")
        _server.update(process=process, path=path)
        atexit.register(process.terminate)
        return path


def run_movie(
    args: list[str], env: dict[str, str], timeout: float, cwd: str | None = None
) -> subprocess.CompletedProcess:
    """`movie ARGS` in its own process with `env`: the CompletedProcess (text output) that
    subprocess.run(capture_output=True, text=True) gives; TimeoutExpired after `timeout` s."""
    cwd = cwd or os.getcwd()
    if os.environ.get("MOVIE_TESTS_COLD_CLI"):
        command = [sys.executable, "-m", "movie_assets.cli", *args]
        return subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    path = _start_server()
    with tempfile.TemporaryDirectory(prefix="movie-cli-") as folder:
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        out.touch()
        err.touch()
        request = {"args": list(args), "env": env, "cwd": cwd, "stdout": str(out)}
        request["stderr"] = str(err)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            _send(sock, request)
            started = _receive(sock)
            if started is None:
                raise RuntimeError("the warm `movie` server closed the connection")
            sock.settimeout(timeout)
            try:
                finished = _receive(sock)
            except TimeoutError:
                os.kill(started["pid"], signal.SIGKILL)
                sock.settimeout(None)
                _receive(sock)
                raise subprocess.TimeoutExpired(
                    ["movie", *args], timeout, out.read_bytes(), err.read_bytes()
                ) from None
        if finished is None:
            raise RuntimeError("the warm `movie` server ended during a command")
        return subprocess.CompletedProcess(
            ["movie", *args],
            finished["returncode"],
            out.read_text(encoding="utf-8"),
            err.read_text(encoding="utf-8"),
        )


class WarmProcess:
    """A `movie` command started by `spawn_movie`: the parts of subprocess.Popen the tests use
    (pid, poll, wait, communicate, send_signal; stdout and stderr read as text once it ended)."""

    def __init__(self, args: list[str], env: dict[str, str], new_session: bool) -> None:
        self.args = ["movie", *args]
        self.returncode: int | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="movie-cli-")
        out, err = Path(self._folder.name, "stdout"), Path(self._folder.name, "stderr")
        out.touch()
        err.touch()
        request = {"args": list(args), "env": env, "cwd": os.getcwd(), "stdout": str(out)}
        request.update(stderr=str(err), new_session=new_session)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(_start_server())
        _send(self._sock, request)
        started = _receive(self._sock)
        if started is None:
            raise RuntimeError("the warm `movie` server closed the connection")
        self.pid: int = started["pid"]
        self.stdout = open(out, encoding="utf-8")
        self.stderr = open(err, encoding="utf-8")

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._sock], [], [], 0)[0]:
            self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._sock], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._finish()
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.stdout.read(), self.stderr.read()

    def send_signal(self, number: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _finish(self) -> None:
        finished = _receive(self._sock)
        if finished is None:
            raise RuntimeError("the warm `movie` server ended during a command")
        self.returncode = finished["returncode"]
        self._sock.close()


def spawn_movie(args: list[str], env: dict[str, str], new_session: bool = False):
    """Start `movie ARGS` and return at once: a WarmProcess (a subprocess.Popen with
    MOVIE_TESTS_COLD_CLI=1), text output. `new_session`: its own process group."""
    if os.environ.get("MOVIE_TESTS_COLD_CLI"):
        return subprocess.Popen(
            [sys.executable, "-m", "movie_assets.cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=new_session,
        )
    return WarmProcess(list(args), env, new_session)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
