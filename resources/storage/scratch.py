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

from resources.runtime.processes import process_alive
from resources.runtime.settings import movie_home


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
