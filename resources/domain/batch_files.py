"""Batch files: many movie requests in one YAML or CSV file, plus a name and optional budget.

Every row is validated by the same MovieRequest model as `movie generate`. A bad row becomes a
RowError with its line number and field and never stops the good rows; only a file that cannot be
read as a batch at all (broken YAML, no rows, a bad name) raises BatchFileError.

YAML:

    name: morning-explainers       # batch name (default: the file name)
    budget_usd: 0.50               # optional: what this batch may spend per run
    schedule: {cron: "0 7 * * *", timezone: Europe/Athens}   # optional (scheduled folder)
    defaults: {duration_s: 30, images_per_segment: 1}        # optional, applied to every row
    movies:
      - prompt: How volcanoes erupt
      - {prompt: "Today: {title}", feed: "https://example.org/rss.xml", id: daily-news}

CSV: one row per movie, columns named like the YAML keys (empty cells take the defaults,
`documents` separated by ';'); batch-level keys go in leading `# key: value` comment lines.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import zoneinfo
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from resources.domain.documents import read_document
from resources.domain.errors import InvalidInput
from resources.domain.models import MOVIE_ID_PATTERN, MovieRequest
from resources.runtime.settings import movie_home
from resources.storage.projects import movie_id_for, validate_movie_id
from resources.storage.store import atomic_write_bytes

# Names a user may know from the CLI options, mapped to the request's field names.
CLI_NAMES = {
    "duration": "duration_s",
    "style": "image_style",
    "aspect": "aspect_ratio",
    "assembly": "assembly_strategy",
}
# Row keys that are not request fields.
ROW_KEYS = {"id", "feed", "feed_entry"}
# Batch names the system uses itself (the nightly rebuild is reported as a batch too).
RESERVED_NAMES = {"nightly-stale"}
# Placeholder replaced by the feed entry's title in a feed row's prompt.
TITLE_PLACEHOLDER = "{title}"
MAX_ROWS = 500


class BatchFileError(ValueError):
    """The file as a whole is not a batch (a bad row never raises this)."""


class RowError(BaseModel):
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


class FeedRef(BaseModel):
    """Take the topic from entry `entry` (0 = the first, usually the newest) of an RSS/Atom
    feed, read from an http(s) URL or a local file when the batch runs."""

    url: str = Field(min_length=1, max_length=2048)
    entry: int = Field(default=0, ge=0, le=99)


class BatchMovie(BaseModel):
    """One accepted row. For a feed row, request.prompt may hold {title}, filled in at run time."""

    line: int
    movie_id: str | None = None
    request: MovieRequest
    feed: FeedRef | None = None

    def resolved_id(self) -> str:
        return self.movie_id or movie_id_for(self.request.prompt)


class BatchSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from resources.runtime.dagster_private import is_valid_cron_string

        if not is_valid_cron_string(value):
            raise ValueError(f"{value!r} is not a cron expression like '0 7 * * *'")
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone like 'Europe/Athens'") from None
        return value


class BatchHeader(BaseModel):
    """The batch-level keys of a batch file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    budget_usd: float | None = Field(default=None, gt=0)
    schedule: BatchSchedule | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not MOVIE_ID_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a "
                "letter or digit"
            )
        if value in RESERVED_NAMES:
            raise ValueError(f"{value!r} is reserved; pick another batch name")
        return value


class BatchFile(BatchHeader):
    movies: list[BatchMovie]
    rejected: list[RowError] = Field(default_factory=list)
    source: str = ""  # the file it came from
    sha256: str = ""  # of the file's bytes: the same content is the same batch


def load_batch(path: Path, context: dict | None = None) -> BatchFile:
    """Read a YAML or CSV batch file. `context` is passed to MovieRequest validation (e.g. the
    TTS voices), so rows are checked exactly as `movie generate` checks its options."""
    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        header, rows = _yaml_rows(text)
    elif suffix == ".csv":
        header, rows = _csv_rows(text)
    else:
        raise BatchFileError(f"{path.name}: a batch file ends in .yaml, .yml or .csv")
    header.setdefault("name", path.stem.lower())
    try:
        batch_header = BatchHeader.model_validate(header)
    except ValidationError as error:
        raise BatchFileError(f"{path.name}: {_first_error(error)}") from None
    unknown = sorted(_field_names(batch_header.defaults) - set(MovieRequest.model_fields))
    if unknown:
        raise BatchFileError(f"{path.name}: defaults: unknown field(s) {', '.join(unknown)}")
    if not rows:
        raise BatchFileError(f"{path.name}: no movies in the batch")
    if len(rows) > MAX_ROWS:
        raise BatchFileError(f"{path.name}: at most {MAX_ROWS} movies per batch, got {len(rows)}")
    movies, rejected = _validate_rows(rows, batch_header.defaults, path.parent, context)
    return BatchFile(
        **batch_header.model_dump(),
        movies=movies,
        rejected=rejected,
        source=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
    )


# ---------------------------------------------------------------------------------------------
# Reading rows with the line of each row and each field


Row = tuple[int, dict[str, Any], dict[str, int]]  # (line, values, line of each field)


def _yaml_rows(text: str) -> tuple[dict, list[Row]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", error)
        raise BatchFileError(f"{where}not valid YAML ({problem})") from None
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        raise BatchFileError("line 1: a YAML batch is a mapping with a `movies` list")
    if not isinstance(data.get("movies"), list):
        raise BatchFileError("movies: must be a list of movie requests")
    node = next(v for k, v in root.value if k.value == "movies")
    rows: list[Row] = []
    for item, values in zip(node.value, data["movies"], strict=True):
        line = item.start_mark.line + 1
        if not isinstance(values, dict):
            rows.append((line, {"__row__": "must be a mapping of request fields"}, {}))
            continue
        lines = {k.value: k.start_mark.line + 1 for k, _ in item.value}
        rows.append((line, values, lines))
    header = {k: v for k, v in data.items() if k != "movies"}
    return header, rows


def _csv_rows(text: str) -> tuple[dict, list[Row]]:
    lines = text.splitlines(keepends=True)
    comments = 0
    while comments < len(lines) and lines[comments].lstrip().startswith("#"):
        comments += 1
    header_text = "".join(line.lstrip()[1:] for line in lines[:comments])
    try:
        header = yaml.safe_load(header_text) or {}
    except yaml.YAMLError:
        raise BatchFileError("the leading '# key: value' lines are not valid") from None
    if not isinstance(header, dict):
        raise BatchFileError("the leading comment lines must be '# key: value' pairs")
    reader = csv.DictReader(io.StringIO("".join(lines[comments:])))
    rows: list[Row] = []
    for values in reader:
        line = comments + reader.line_num
        cleaned = {
            (k or "").strip(): v.strip()
            for k, v in values.items()
            if isinstance(v, str) and v.strip()
        }
        if None in values:  # more cells than columns
            cleaned["__row__"] = "more cells than the header has columns"
        if "documents" in cleaned:
            cleaned["documents"] = [d.strip() for d in cleaned["documents"].split(";") if d]
        rows.append((line, cleaned, {k: line for k in cleaned}))
    return header, rows


def _field_names(values: dict) -> set[str]:
    return {CLI_NAMES.get(k, k) for k in values}


# ---------------------------------------------------------------------------------------------
# Validating rows


def _validate_rows(
    rows: list[Row], defaults: dict, folder: Path, context: dict | None
) -> tuple[list[BatchMovie], list[RowError]]:
    movies: list[BatchMovie] = []
    rejected: list[RowError] = []
    seen: dict[str, int] = {}
    for line, values, lines in rows:
        if "__row__" in values:
            rejected.append(RowError(line=line, field="row", message=values["__row__"]))
            continue
        try:
            movie = _row(line, values, defaults, folder, context)
        except RowProblem as problem:
            field = CLI_NAMES.get(problem.field, problem.field)
            original = next((k for k in values if CLI_NAMES.get(k, k) == field), field)
            rejected.append(
                RowError(line=lines.get(original, line), field=field, message=problem.message)
            )
            continue
        movie_id = movie.resolved_id() if movie.feed is None else movie.movie_id
        if movie_id is not None:
            if movie_id in seen:
                rejected.append(
                    RowError(
                        line=line,
                        field="id",
                        message=f"movie {movie_id!r} is already in line {seen[movie_id]}",
                    )
                )
                continue
            seen[movie_id] = line
        movies.append(movie)
    return movies, rejected


class RowProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _row(line: int, values: dict, defaults: dict, folder: Path, context: dict | None) -> BatchMovie:
    fields = {CLI_NAMES.get(k, k): v for k, v in {**defaults, **values}.items()}
    movie_id = fields.pop("id", None)
    feed_value = fields.pop("feed", None)
    entry = fields.pop("feed_entry", 0)
    feed = None
    if feed_value is not None:
        try:
            feed = FeedRef.model_validate(
                feed_value
                if isinstance(feed_value, dict)
                else {"url": str(feed_value), "entry": entry}
            )
        except ValidationError as error:
            raise RowProblem("feed", _first_error(error)) from None
        if "://" not in feed.url and not Path(feed.url).expanduser().is_absolute():
            # A local feed file is relative to the batch file, as documents are.
            feed.url = str((folder / feed.url).resolve())
        fields.setdefault("prompt", TITLE_PLACEHOLDER)
    if movie_id is not None:
        try:
            movie_id = validate_movie_id(str(movie_id))
        except ValueError as error:
            raise RowProblem("id", str(error)) from None
    if isinstance(fields.get("documents"), list):
        # Relative document paths are relative to the batch file, wherever it is read from.
        fields["documents"] = [str((folder / str(d)).resolve()) for d in fields["documents"]]
    try:
        request = MovieRequest.model_validate(fields, context=context)
    except ValidationError as error:
        item = error.errors()[0]
        field = ".".join(str(part) for part in item["loc"][:1]) or "row"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            known = sorted({*MovieRequest.model_fields, *ROW_KEYS} - {"use_video"})
            message = f"unknown field; a row takes {', '.join(known)}"
        raise RowProblem(field, message) from None
    for document in request.documents:
        try:
            read_document(document)  # the same limits as `movie generate --document`
        except InvalidInput as error:
            raise RowProblem("documents", str(error).removeprefix("documents: ")) from None
    return BatchMovie(line=line, movie_id=movie_id, request=request, feed=feed)


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    field = ".".join(str(part) for part in item["loc"]) or "value"
    return f"{field}: {item['msg'].removeprefix('Value error, ')}"


# ---------------------------------------------------------------------------------------------
# Where batches live


def batches_home() -> Path:
    return movie_home() / "batches"


def inbox_dir() -> Path:
    """The watched folder: drop a batch file here and the batch_inbox sensor builds it."""
    return Path(os.environ.get("MOVIE_BATCH_INBOX", str(batches_home() / "inbox"))).resolve()


def scheduled_dir() -> Path:
    """Batch files with a `schedule:`; each becomes a schedule when the code location loads."""
    return batches_home() / "scheduled"


class BatchStore:
    """Every version of every batch that was queued, by name and content hash, so a run builds
    exactly the file that was dropped even if a newer one with the same name follows."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or batches_home() / "queued"

    def save(self, batch: BatchFile) -> None:
        path = self.root / batch.name / f"{batch.sha256}.json"
        if not path.exists():
            atomic_write_bytes(path, batch.model_dump_json(indent=2).encode())
        atomic_write_bytes(self.root / batch.name / "latest", batch.sha256.encode())

    def load(self, name: str, sha256: str | None = None) -> BatchFile:
        folder = self.root / name
        if sha256 is None:
            latest = folder / "latest"
            if not latest.exists():
                raise FileNotFoundError(f"no batch named {name!r} was queued")
            sha256 = latest.read_text().strip()
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"batch version {sha256!r} is not a sha256")
        return BatchFile.model_validate_json((folder / f"{sha256}.json").read_text())

    def reject(self, file_name: str, sha256: str, message: str) -> Path:
        """Keep why a whole file was refused, for the user to read."""
        path = batches_home() / "rejected" / f"{file_name}.{sha256[:12]}.txt"
        atomic_write_bytes(path, (message + "\n").encode())
        return path
