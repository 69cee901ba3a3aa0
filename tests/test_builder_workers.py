"""How the local build's worker processes start (movie_assets/orchestration/builder.py): forked
from the `movie` process itself on Linux, from a forkserver when another thread could hold a
lock. Each check runs in a fresh interpreter: pytest-xdist's own threads would make every fork
here unsafe."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fork path is Linux-only")

PROBE = textwrap.dedent(
    """
    import json, os, sys, threading
    from movie_assets.orchestration import builder

    if sys.argv[1] == "busy":  # another thread alive: a library's, say
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    with builder.Builder(2) as pool:
        context = pool._pool._mp_context.get_start_method()
        pids = {pool._pool.submit(builder._ready).result() for _ in range(8)}
        stats = [open(f"/proc/{pid}/stat").read() for pid in pids]
    parents = {int(stat.rsplit(")", 1)[1].split()[1]) for stat in stats}
    loaded = "movie_assets.definitions" in sys.modules
    print(json.dumps({"context": context, "parents": sorted(parents), "me": os.getpid(),
                      "loaded": loaded}))
    """
)


def _probe(tmp_path, mode: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "MOVIE_HOME": str(tmp_path / ".movie")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_workers_fork_from_the_movie_process_with_the_code_loaded(tmp_path):
    seen = _probe(tmp_path, "quiet")
    assert seen["context"] == "fork"
    assert seen["parents"] == [seen["me"]]  # children of this process, no server between
    assert seen["loaded"]  # the code location was loaded here, once, before the fork


def test_another_thread_alive_means_a_forkserver(tmp_path):
    seen = _probe(tmp_path, "busy")
    assert seen["context"] == "forkserver"
    assert seen["me"] not in seen["parents"]  # the forkserver is their parent
