"""A built project folder copied for one test, so tests that edit a movie never see each other's
edits and the movie is built once per module.

Artifacts are found by their hash under the copy's own folder. Hard links are kept: a published
file (`out/<id>.mp4`) is the same file as its artifact blob in the copy, as in the original."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def copy_project(source: Path, target: Path) -> Path:
    seen: dict[tuple[int, int], Path] = {}
    for folder, _, files in os.walk(source):
        here = target / Path(folder).relative_to(source)
        here.mkdir(parents=True, exist_ok=True)
        for name in files:
            path = Path(folder) / name
            info = path.lstat()
            if path.is_symlink():
                os.symlink(os.readlink(path), here / name)
            elif info.st_nlink > 1 and (info.st_dev, info.st_ino) in seen:
                os.link(seen[info.st_dev, info.st_ino], here / name)
            else:
                shutil.copy2(path, here / name)
                seen[info.st_dev, info.st_ino] = here / name
    return target
