"""Which process runs something, told apart from a later process that reuses its pid.

A token is `host:pid:start time` (the start time from /proc, in clock ticks since boot), so a
run or a scratch folder can name its process, and any process on the same host can tell later
whether that process still runs.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

# The run tag naming the process that executes a run (CLI runs and warm-forked daemon runs).
WORKER_TAG = "movie/worker"


def process_alive(pid: int) -> bool:
    """Whether `pid` runs. A killed process whose parent has not reaped it yet (a zombie) still
    answers signals, but it is dead: on Linux its state in /proc says so."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal check is all there is
    return state not in ("Z", "X")


def _process_start(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def process_token(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def token_pid(token: str) -> int | None:
    """The pid a token names, if the token was made on this host."""
    host, _, rest = token.partition(":")
    pid = rest.partition(":")[0]
    return int(pid) if host == socket.gethostname() and pid.isdigit() else None


def token_dead(token: str) -> bool:
    """Whether the process a token names is gone. Another host's process is never called dead
    here: its own monitoring decides."""
    pid = token_pid(token)
    if pid is None:
        return False
    started = token.rsplit(":", 1)[-1]
    return not process_alive(pid) or (started != "?" and _process_start(pid) != started)
