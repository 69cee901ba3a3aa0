"""The user's inputs per movie: the request and per-segment / per-shot overrides.

Stored as MOVIE_HOME/movies/<id>/inputs.json (written atomically) with an append-only edit log
beside it. Dagster observes these inputs as source assets; everything else is derived.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from resources.models import (
    MOVIE_ID_PATTERN,
    ClipMode,
    Emotion,
    FreeText,
    MovieRequest,
    OnScreenText,
    VoiceName,
)
from resources.settings import movie_home
from resources.store import atomic_write_bytes


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
    """Content hashes of the research documents, so editing a document is an input change."""
    digests = []
    for raw in paths:
        path = Path(raw)
        data = path.read_bytes() if path.is_file() else b"<missing>"
        digests.append(f"{path.name}:{hashlib.sha256(data).hexdigest()[:16]}")
    return digests


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
        return MovieInputs.model_validate_json(path.read_text())

    def save(self, inputs: MovieInputs, change: str) -> None:
        folder = self._dir(inputs.movie_id)
        atomic_write_bytes(folder / "inputs.json", inputs.model_dump_json(indent=2).encode())
        entry = {"time": time.time(), "change": change}
        with open(folder / "edits.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def edits(self, movie_id: str) -> list[dict]:
        path = self._dir(movie_id) / "edits.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def list_ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/inputs.json"))
