"""`movie ui` starts without warnings a user cannot act on, and stops within 10 s of SIGTERM or
Ctrl-C (SIGINT) with no process left behind: webserver, daemon, code server, helpers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from movie_assets.instance.local_stack import free_port

STOP_LIMIT_S = 10.0


pytestmark = pytest.mark.e2e  # movie ui and its servers, stopped by signals


def _loaded(base: str) -> bool:
    body = json.dumps(
        {"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"}
    ).encode()
    request = urllib.request.Request(base + "/graphql", body, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            entries = json.loads(response.read())["data"]["workspaceOrError"]["locationEntries"]
        return entries[0]["loadStatus"] == "LOADED"
    except (OSError, KeyError, IndexError, TypeError, ValueError):
        return False


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_movie_ui_stops_within_10_s_and_leaves_no_process(tmp_path, signum):
    home = tmp_path / ".movie"
    port = free_port()
    env = {
        **os.environ,
        "MOVIE_HOME": str(home),
        "MOVIE_PREVIEW_URL": f"http://127.0.0.1:{free_port()}",
    }
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    log = tmp_path / "ui.log"
    with open(log, "w") as out:
        # Started from the repository root, where the dagster.yaml template lies.
        server = subprocess.Popen(
            [sys.executable, "-m", "movie_assets.cli", "ui", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
    try:
        deadline = time.time() + 300
        while not _loaded(f"http://127.0.0.1:{port}"):
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "movie ui did not come up:\n" + log.read_text()[-3000:]
            time.sleep(2)
        # The webserver, the daemon and the code server run under movie ui.
        tree = _tree(server.pid)
        assert len(tree) >= 4, [p.cmdline()[:4] for p in tree]
        started = time.monotonic()
        server.send_signal(signum)
        server.wait(timeout=60)
        took = time.monotonic() - started
        time.sleep(1)  # anything still alive now was left behind
        left = [p for p in tree if _alive(p)]
    finally:
        if server.poll() is None:
            for process in _tree(server.pid)[::-1]:
                process.kill()
    text = log.read_text()
    assert took <= STOP_LIMIT_S, (took, text[-2000:])
    assert not left, [(p.pid, " ".join(p.cmdline())[:120]) for p in left]
    assert "movie ui stopped" in text
    # No warning a user cannot act on at start-up.
    assert "SupersessionWarning" not in text and "dg dev" not in text, text[:3000]
    assert "will not be used" not in text, text[:3000]
    assert "Traceback" not in text, text[-3000:]
