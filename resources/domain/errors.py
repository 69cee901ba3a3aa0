"""The classes of failure a user can meet, each with what retrying can do about it.

- invalid input: refused up front by the request models; never retried.
- provider transient (5xx, 408, 429, timeouts, dropped connections, malformed answers): retried
  with backoff, honouring Retry-After.
- provider permanent (other 4xx): the same request fails the same way again; not retried.
- local environment (disk full, read-only folder, no permission, a stored artifact missing or
  corrupt): retrying cannot help; the user must free space, fix the folder, or repair the movie
  (`movie verify --repair ID`, `movie regenerate ID`).

Errors that are not ours map too: a pydantic ValidationError or a JSONDecodeError is stored data
that does not parse (local environment, repairable; the bytes are never shown), a
FileNotFoundError a missing file (local environment), any other ValueError invalid input (a
producer refused what it was given: retrying cannot help).

Messages start with the class, so a one-line summary tells the user which one they met.
"""

from __future__ import annotations

import errno
import json

INVALID_INPUT = "invalid input"
PROVIDER_TRANSIENT = "provider transient"
PROVIDER_PERMANENT = "provider permanent"
LOCAL_ENVIRONMENT = "local environment"


class MovieError(RuntimeError):
    """An error whose class (above) decides whether a retry may help."""

    kind = "error"
    retryable = False

    def describe(self) -> str:
        return f"{self.kind}: {self}"


class InvalidInput(MovieError, ValueError):
    kind = INVALID_INPUT


class ProviderError(MovieError):
    """A provider call failed. The message carries the provider's own words, never secrets.

    `status` is the HTTP status when there was one. Client errors (4xx but 408/429) will fail
    the same way again, so they are not retried; everything else may be transient.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.status is None or self.status >= 500 or self.status in (408, 429)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return PROVIDER_TRANSIENT if self.retryable else PROVIDER_PERMANENT


class LocalEnvironmentError(MovieError):
    kind = LOCAL_ENVIRONMENT


REPAIR_ADVICE = "repair with `movie verify --repair ID` or `movie regenerate ID`"


class UnreadableData(LocalEnvironmentError):
    """Stored data that does not parse: damaged or written by hand. Its bytes are not shown."""


class MissingFile(LocalEnvironmentError):
    """A file the build needs is gone."""


# errno -> what the user should read; these never go away by retrying.
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EMFILE: "too many open files",
}

# The same conditions as tools (ffmpeg, sqlite) report them in their own output.
_ENVIRONMENT_TEXT = {
    "no space left on device": "disk full",
    "disk quota exceeded": "disk quota exceeded",
    "read-only file system": "read-only file system",
    "database or disk is full": "disk full",
    "attempt to write a readonly database": "read-only file system",
}


def environment_error(error: BaseException) -> LocalEnvironmentError | None:
    """The local-environment error behind `error` (itself, its causes, or its text), if any."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, LocalEnvironmentError):
            return seen
        if isinstance(seen, OSError) and seen.errno in _ENVIRONMENT_ERRNOS:
            where = f" at {seen.filename}" if seen.filename else ""
            return LocalEnvironmentError(f"{_ENVIRONMENT_ERRNOS[seen.errno]}{where}")
        found = environment_error_in_text(str(seen))
        if found is not None:
            return found
        seen = seen.__cause__ or seen.__context__
    return None


def environment_error_in_text(text: str) -> LocalEnvironmentError | None:
    """The local-environment condition a tool's message reports, if any."""
    lowered = text.lower()
    for needle, what in _ENVIRONMENT_TEXT.items():
        if needle in lowered:
            return LocalEnvironmentError(f"{what} ({needle})")
    return None


def _not_ours(error: BaseException) -> MovieError | None:
    """The class of an error raised by a library or a producer rather than by this project."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        # Never str(error): pydantic quotes the offending input, which may be any stored bytes.
        return UnreadableData(
            f"stored data does not parse as {error.title} ({error.error_count()} error(s)); "
            + REPAIR_ADVICE
        )
    if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
        what = "JSON" if isinstance(error, json.JSONDecodeError) else "text"
        at = getattr(error, "pos", None) or getattr(error, "start", "?")
        return UnreadableData(
            f"stored data is not valid {what} ({type(error).__name__} at position {at}); "
            + REPAIR_ADVICE
        )
    if isinstance(error, FileNotFoundError):
        where = f" {error.filename}" if error.filename else f": {error}"
        return MissingFile(f"file not found{where}; if it was a stored artifact, {REPAIR_ADVICE}")
    if type(error) is ValueError:
        return InvalidInput(f"{error} (retrying cannot help: change the input)")
    return None


def classify(error: BaseException) -> MovieError | None:
    """The MovieError that explains `error`, or None for an unexpected (internal) error."""
    found = environment_error(error)
    if found is not None:
        return found
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, MovieError):
            return seen
        seen = seen.__cause__
    seen = error
    while seen is not None:
        found = _not_ours(seen)
        if found is not None:
            return found
        seen = seen.__cause__
    return None
