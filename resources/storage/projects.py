"""The user's inputs per movie: the request and per-segment / per-shot overrides.

Stored as MOVIE_HOME/movies/<id>/inputs.json (written atomically) with an append-only edit log
beside it. Dagster observes these inputs as source assets; everything else is derived. Every
change is a read-modify-write under the movie's lock (`ProjectStore.update`), applied to the
latest state, so two edits at once both land.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resources.domain.documents import max_document_bytes
from resources.domain.errors import InvalidInput, LocalEnvironmentError
from resources.domain.models import (
    MOVIE_ID_PATTERN,
    ClipMode,
    Emotion,
    FreeText,
    MovieRequest,
    OnScreenText,
    VoiceName,
)
from resources.runtime.settings import movie_home
from resources.storage.ledger import append_record, read_records
from resources.storage.store import atomic_write_bytes


class SegmentOverride(BaseModel):
    """A user's edit of one segment, validated by the same rules as the movie-level fields."""

    model_config = ConfigDict(extra="forbid")

    narration: OnScreenText | None = Field(default=None, min_length=1, max_length=1000)
    voice: VoiceName | None = None
    emotion: Emotion | None = None
    # The segment's picture, overriding the movie's blueprint (None follows the blueprint).
    video: ClipMode | None = None


class ShotOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_prompt: FreeText | None = Field(default=None, min_length=1, max_length=2000)


class MovieInputs(BaseModel):
    movie_id: str
    request: MovieRequest
    segments: dict[str, SegmentOverride] = Field(default_factory=dict)
    shots: dict[str, ShotOverride] = Field(default_factory=dict)


class UnknownMovie(LookupError):
    pass


class DamagedInputs(LocalEnvironmentError, ValueError):
    """inputs.json exists but is not a valid movie (edited by hand, a disk error)."""


def validate_movie_id(movie_id: str) -> str:
    if not isinstance(movie_id, str) or not MOVIE_ID_PATTERN.fullmatch(movie_id):
        raise ValueError(
            f"movie id {movie_id!r} must be 1-63 characters of a-z, 0-9, '-' or '_' "
            "and start with a letter or digit"
        )
    return movie_id


def movie_id_for(prompt: str) -> str:
    """A readable, stable id: a slug of the prompt plus a short hash to keep ids unique."""
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].strip("-") or "movie"
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:6]
    return f"{slug}-{digest}"


def document_digest(paths: list[str]) -> list[str]:
    """Content hashes of the research documents, so editing a document is an input change.
    Streamed, and refused past the same size limit as reading them (a huge file costs nothing)."""
    limit = max_document_bytes()
    digests = []
    for raw in paths:
        path = Path(raw)
        digest = hashlib.sha256()
        if not path.is_file():
            digest.update(b"<missing>")
        elif path.stat().st_size > limit:
            raise InvalidInput(
                f"documents: {raw!r} is larger than {limit / 1048576:g} MB "
                "(raise MOVIE_MAX_DOCUMENT_MB to allow it)"
            )
        else:
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        digests.append(f"{path.name}:{digest.hexdigest()[:16]}")
    return digests


_LOCKS: dict[str, FileLock] = {}


def _movie_lock(path: Path) -> FileLock:
    # One FileLock object per file and process, so a nested acquire (update -> save) re-enters.
    if str(path) not in _LOCKS:
        path.parent.mkdir(parents=True, exist_ok=True)
        _LOCKS[str(path)] = FileLock(str(path), thread_local=False)
    return _LOCKS[str(path)]


class ProjectStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or movie_home() / "movies"

    def _dir(self, movie_id: str) -> Path:
        return self.root / validate_movie_id(movie_id)

    def exists(self, movie_id: str) -> bool:
        return (self._dir(movie_id) / "inputs.json").exists()

    def load(self, movie_id: str) -> MovieInputs:
        path = self._dir(movie_id) / "inputs.json"
        if not path.exists():
            raise UnknownMovie(f"no movie {movie_id!r} in {self.root}")
        try:
            return MovieInputs.model_validate_json(path.read_bytes())
        except ValidationError as error:
            raise DamagedInputs(
                f"{path} is not a valid movie ({error.error_count()} error(s), first: "
                f"{error.errors()[0]['msg']}); restore it or recreate the movie"
            ) from None

    @contextmanager
    def locked(self, movie_id: str) -> Iterator[None]:
        """Hold the movie's lock: its inputs change only inside this block (re-entrant)."""
        with _movie_lock(self.root / ".locks" / f"{validate_movie_id(movie_id)}.lock"):
            yield

    def save(self, inputs: MovieInputs, change: str) -> None:
        folder = self._dir(inputs.movie_id)
        with self.locked(inputs.movie_id):
            atomic_write_bytes(folder / "inputs.json", inputs.model_dump_json(indent=2).encode())
            append_record(folder / "edits.jsonl", {"time": time.time(), "change": change})

    def update(
        self, movie_id: str, apply: Callable[[MovieInputs], tuple[MovieInputs, str] | None]
    ) -> MovieInputs | None:
        """Read the latest inputs, `apply` an edit, save: all under the movie's lock, so a
        concurrent edit is never lost. `apply` returns (new inputs, change) or None for no
        change; returns what was saved, or None."""
        with self.locked(movie_id):
            result = apply(self.load(movie_id))
            if result is None:
                return None
            edited, change = result
            self.save(edited, change)
            return edited

    def edits(self, movie_id: str) -> list[dict]:
        return read_records(self._dir(movie_id) / "edits.jsonl", required=("change",))

    def list_ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/inputs.json"))


class ProjectStoreResource(dg.ConfigurableResource):
    """The project store as the Dagster resource `projects`, for assets and checks.

    `root` is the movies folder. Unset, it is MOVIE_HOME/movies as read where the step runs (a
    run process, the webserver's code server, a lease), just as a plain ProjectStore() decides."""

    root: str | None = None

    def store(self) -> ProjectStore:
        return ProjectStore(Path(self.root) if self.root else None)
