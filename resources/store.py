"""Artifact storage: content-addressed, written atomically, never overwritten.

An artifact's address is the sha256 of its bytes, so a revision can never clobber an earlier one
and rolling back is re-pointing. A small key index maps a producer call's content key (hash of its
inputs, provider, model and seed) to the artifact it made, so a repeated call costs nothing.
`ArtifactStore` is the interface; an S3 store implements the same four methods.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg
from pydantic import BaseModel

from resources.scratch import scratch_dir
from resources.settings import movie_home

M = TypeVar("M", bound=BaseModel)


class ArtifactRef(BaseModel):
    uri: str
    sha256: str
    size: int
    suffix: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_key(*parts: object) -> str:
    """Stable hash of a producer call's inputs (any JSON-serialisable values)."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ArtifactStore(dg.ConfigurableResource, ABC):
    @abstractmethod
    def put_file(self, path: Path, suffix: str) -> ArtifactRef:
        """Store a finished local file under its content hash; the source file is left alone."""

    @abstractmethod
    def local_path(self, ref: ArtifactRef) -> Path:
        """A local file with the artifact's bytes (a cache copy for remote stores)."""

    @abstractmethod
    def lookup(self, key: str) -> ArtifactRef | None:
        """The artifact a producer call with this content key made before, if any."""

    @abstractmethod
    def remember(self, key: str, ref: ArtifactRef) -> None: ...

    def publish(self, ref: ArtifactRef, name: str) -> str | None:
        """Give the artifact a stable published name inside the store (the bucket object a
        production user fetches) and return its uri; None where the store has no such name (the
        local store: MOVIE_HOME/out/ is the published copy)."""
        return None

    def put_bytes(self, data: bytes, suffix: str) -> ArtifactRef:
        return self.make(suffix, lambda path: path.write_bytes(data))

    def put_model(self, model: BaseModel) -> ArtifactRef:
        return self.put_bytes(model.model_dump_json(indent=2).encode(), ".json")

    def read_model(self, ref: ArtifactRef, model: type[M]) -> M:
        return model.model_validate_json(self.local_path(ref).read_bytes())

    def make(self, suffix: str, write: Callable[[Path], object]) -> ArtifactRef:
        """Let `write(path)` produce a file in a scratch folder, then store it. A failed write
        leaves nothing behind: only finished files are ever stored."""
        with scratch_dir() as tmp:
            path = tmp / f"artifact{suffix}"
            write(path)
            return self.put_file(path, suffix)


class LocalArtifactStore(ArtifactStore):
    """Artifacts under `root` (default MOVIE_HOME/artifacts) as sha256/ab/abcd....ext."""

    root: str | None = None

    def _root(self) -> Path:
        return Path(self.root) if self.root else movie_home() / "artifacts"

    def _blob_path(self, sha: str, suffix: str) -> Path:
        return self._root() / "sha256" / sha[:2] / f"{sha}{suffix}"

    def put_file(self, path: Path, suffix: str) -> ArtifactRef:
        sha = sha256_file(path)
        target = self._blob_path(sha, suffix)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming.", suffix=suffix)
            os.close(fd)
            try:
                with open(path, "rb") as src, open(tmp, "wb") as dst:
                    while block := src.read(1 << 20):
                        dst.write(block)
                    dst.flush()
                    os.fsync(dst.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return ArtifactRef(
            uri=target.as_uri(), sha256=sha, size=target.stat().st_size, suffix=suffix
        )

    def local_path(self, ref: ArtifactRef) -> Path:
        path = self._blob_path(ref.sha256, ref.suffix)
        if not path.exists():
            raise FileNotFoundError(f"artifact {ref.sha256}{ref.suffix} is not in {self._root()}")
        return path

    def lookup(self, key: str) -> ArtifactRef | None:
        index = self._root() / "keys" / key[:2] / f"{key}.json"
        if not index.exists():
            return None
        ref = ArtifactRef.model_validate_json(index.read_text())
        return ref if self._blob_path(ref.sha256, ref.suffix).exists() else None

    def remember(self, key: str, ref: ArtifactRef) -> None:
        index = self._root() / "keys" / key[:2] / f"{key}.json"
        atomic_write_bytes(index, ref.model_dump_json().encode())
