"""Artifact storage: content-addressed, written atomically, never overwritten.

An artifact's address is the sha256 of its bytes, so a revision can never clobber an earlier one
and rolling back is re-pointing. A small key index maps a producer call's content key (hash of its
inputs, provider, model and seed) to the artifact it made, so a repeated call costs nothing.
`ArtifactStore` is the interface; an S3 store implements the same four methods.

Every read is verified: the bytes must hash to the address before anyone uses them. A file that
passed is remembered by its (size, mtime, inode) stamp, so a large file is hashed once, not on
every read. A blob that fails is moved to `quarantine/` (never deleted) and reported as
`ArtifactCorrupt`; a blob that is gone as `ArtifactMissing`. Both are local-environment failures
that `movie regenerate` / `movie verify --repair` repair by re-making exactly that artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import dagster as dg
from pydantic import BaseModel, ValidationError

from resources.domain.errors import LocalEnvironmentError
from resources.runtime.settings import movie_home
from resources.storage.atomic import atomic_file
from resources.storage.scratch import scratch_dir

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
    with atomic_file(path, durable=True) as handle:
        handle.write(data)


ArtifactState = Literal["ok", "missing", "corrupt"]


class DamagedArtifact(LocalEnvironmentError, OSError):
    """A stored artifact cannot be used as it is; re-making it repairs the movie."""

    state: ArtifactState = "corrupt"

    def __init__(self, ref: ArtifactRef, detail: str) -> None:
        super().__init__(
            f"artifact {ref.sha256[:16]}{ref.suffix} is {self.state} ({detail}); "
            "repair with `movie verify --repair` (or `movie regenerate <movie>`)"
        )
        self.ref = ref
        self.detail = detail

    def __reduce__(self):  # crosses process boundaries (run workers) intact
        return (type(self), (self.ref, self.detail))


class ArtifactMissing(DamagedArtifact, FileNotFoundError):
    state = "missing"


class ArtifactCorrupt(DamagedArtifact):
    state = "corrupt"


class BlobVerifier:
    """Checks local blob files against their sha256, remembering a pass by the file's stamp.

    The stamp (size, mtime_ns, inode) lives in `<root>/verified/`, one tiny file per blob, so
    every process (CLI, run workers) benefits; any write to the blob changes the stamp and forces
    a re-hash. A failing blob is moved to `<root>/quarantine/`, never deleted."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _stamp_path(self, blob: Path) -> Path:
        return self.root / "verified" / blob.name[:2] / blob.name

    @staticmethod
    def _stamp(blob: Path) -> str | None:
        try:
            info = blob.stat()
        except FileNotFoundError:
            return None
        return f"{info.st_size} {info.st_mtime_ns} {info.st_ino}"

    def state(self, blob: Path, ref: ArtifactRef, *, deep: bool = False) -> ArtifactState:
        """"ok", "missing", or "corrupt" (the blob is then in quarantine). `deep` re-hashes even
        a blob whose stamp says it passed before."""
        stamp = self._stamp(blob)
        if stamp is None:
            return "missing"
        stamp_path = self._stamp_path(blob)
        if not deep and _read_text(stamp_path) == stamp:
            return "ok"
        if int(stamp.split()[0]) == ref.size and sha256_file(blob) == ref.sha256:
            self._write_stamp(stamp_path, stamp)
            return "ok"
        self.quarantine(blob)
        return "corrupt"

    def remember_good(self, blob: Path) -> None:
        """Record a blob just written from bytes whose hash was computed on the way in."""
        stamp = self._stamp(blob)
        if stamp is not None:
            self._write_stamp(self._stamp_path(blob), stamp)

    @staticmethod
    def _write_stamp(path: Path, stamp: str) -> None:
        # Remembering a pass only saves time: a full or read-only disk must not fail a read.
        try:
            atomic_write_bytes(path, stamp.encode())
        except OSError:
            pass

    def quarantine(self, blob: Path) -> Path | None:
        self._stamp_path(blob).unlink(missing_ok=True)
        target = self.root / "quarantine" / f"{time.strftime('%Y%m%dT%H%M%S')}-{blob.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(blob, target)
        except FileNotFoundError:
            return None  # another process moved it first
        return target


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def read_index_entry(raw: bytes) -> ArtifactRef | None:
    """A key index entry; a garbled one counts as absent (the call is simply made again)."""
    try:
        return ArtifactRef.model_validate_json(raw)
    except ValidationError:
        return None


class ArtifactStore(dg.ConfigurableResource, ABC):
    @abstractmethod
    def put_file(self, path: Path, suffix: str) -> ArtifactRef:
        """Store a finished local file under its content hash; the source file is left alone."""

    @abstractmethod
    def local_path(self, ref: ArtifactRef) -> Path:
        """A local file with the artifact's bytes (a cache copy for remote stores), verified
        against the hash; raises ArtifactMissing or ArtifactCorrupt (quarantined)."""

    @abstractmethod
    def check(self, ref: ArtifactRef, *, deep: bool = False) -> ArtifactState:
        """Whether the stored artifact is intact, without raising; a corrupt one is quarantined.
        `deep` re-reads the stored bytes even where a pass is remembered."""

    @abstractmethod
    def lookup(self, key: str) -> ArtifactRef | None:
        """The artifact a producer call with this content key made before, if any."""

    @abstractmethod
    def remember(self, key: str, ref: ArtifactRef) -> None: ...

    def published_key(self, name: str) -> str | None:
        """Where `publish` puts the published object `name` inside the store; None where the
        store has no such name (the local store)."""
        return None

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
        data = self.local_path(ref).read_bytes()
        try:
            return model.model_validate_json(data)
        except ValidationError as error:
            # Verified bytes that are not the model: written by another version or by hand.
            raise ArtifactCorrupt(
                ref, f"not a valid {model.__name__}: {error.error_count()} error(s)"
            ) from None

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

    def _verifier(self) -> BlobVerifier:
        return BlobVerifier(self._root())

    def put_file(self, path: Path, suffix: str) -> ArtifactRef:
        sha = sha256_file(path)
        target = self._blob_path(sha, suffix)
        probe = ArtifactRef(uri="", sha256=sha, size=path.stat().st_size, suffix=suffix)
        # An intact copy is kept; a damaged one was quarantined by the check and is rewritten.
        if self._verifier().state(target, probe) != "ok":
            with (
                atomic_file(target, prefix=".incoming.", suffix=suffix, durable=True) as dst,
                open(path, "rb") as src,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
            if sha256_file(target) != sha:  # the copy itself went wrong (bad disk, a race)
                self._verifier().quarantine(target)
                raise OSError(f"storing {path.name}: the stored copy does not match its hash")
            self._verifier().remember_good(target)
        return ArtifactRef(
            uri=target.as_uri(), sha256=sha, size=target.stat().st_size, suffix=suffix
        )

    def check(self, ref: ArtifactRef, *, deep: bool = False) -> ArtifactState:
        return self._verifier().state(self._blob_path(ref.sha256, ref.suffix), ref, deep=deep)

    def local_path(self, ref: ArtifactRef) -> Path:
        path = self._blob_path(ref.sha256, ref.suffix)
        state = self.check(ref)
        if state == "missing":
            raise ArtifactMissing(ref, f"it is not in {self._root()}")
        if state == "corrupt":
            raise ArtifactCorrupt(ref, f"bytes do not match; moved to {self._root()}/quarantine")
        return path

    def lookup(self, key: str) -> ArtifactRef | None:
        """The artifact an identical call made, if it is still intact (a damaged one is made
        again by the caller, which is how a producer partition repairs itself)."""
        index = self._root() / "keys" / key[:2] / f"{key}.json"
        try:
            ref = read_index_entry(index.read_bytes())
        except FileNotFoundError:
            return None
        return ref if ref is not None and self.check(ref) == "ok" else None

    def remember(self, key: str, ref: ArtifactRef) -> None:
        index = self._root() / "keys" / key[:2] / f"{key}.json"
        atomic_write_bytes(index, ref.model_dump_json().encode())
