"""Files that appear whole or not at all: written beside their final name, then renamed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(
    path: Path, *, prefix: str | None = None, suffix: str = ".tmp", durable: bool = False
) -> Iterator[BinaryIO]:
    """A binary file to write that becomes `path` by one rename when the block ends, so readers
    never see half a file; if the block fails it is removed and `path` is left as it was.

    The temp file is named prefix + random + suffix (prefix ".<name>." unless given). durable:
    the bytes reach the disk (fsync) before the rename, so a crash cannot leave `path` empty.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if prefix is None:
        prefix = f".{path.name}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
