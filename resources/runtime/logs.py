"""The project's error log, MOVIE_HOME/logs/movie.log: full stack traces go here, the terminal
gets one line per failure and this file's path. Nothing secret is written
(resources/runtime/secrets.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from resources.runtime.secrets import redact
from resources.runtime.settings import movie_home


def log_path() -> Path:
    return movie_home() / "logs" / "movie.log"


def append_log(title: str, body: str) -> Path:
    """Append one entry (a single write to an O_APPEND file, so processes never interleave)."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    entry = redact(f"--- {stamp} pid {os.getpid()} {title}\n{body.rstrip()}\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, entry.encode("utf-8", "replace"))
    finally:
        os.close(fd)
    return path
