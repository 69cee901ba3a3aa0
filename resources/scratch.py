"""Scratch folders for work in progress, kept under MOVIE_HOME/scratch and named by the process
that owns them, so a folder left by a killed process is found and removed by the next command.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from resources.settings import movie_home


def scratch_root() -> Path:
    return movie_home() / "scratch"


@contextmanager
def scratch_dir(prefix: str = "movie") -> Iterator[Path]:
    root = scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{prefix}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


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


def clean_orphaned_scratch() -> int:
    """Remove scratch folders whose process is gone; returns how many were removed."""
    root = scratch_root()
    if not root.exists():
        return 0
    removed = 0
    for folder in root.iterdir():
        owner = folder.name.split("-", 1)[0]
        if owner.isdigit() and not process_alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
