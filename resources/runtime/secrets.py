"""Secrets never leave the process: one `redact` applied wherever text is shown or stored.

The process knows its secrets from the environment (the OpenAI key, the Akash Console key, the S3
secret, the PostgreSQL password, a GPU worker's HMAC secret, and any variable whose name says it
holds a key, token, password or secret), from the lease book (each lease's HMAC secret) and from
`register`. `redact` masks every one of them wherever it appears, also when a provider echoes a
key back inside an error message, and also a cut-off echo of a key's first characters.

The boundaries where text leaves: the terminal (`install_streams` wraps stdout and stderr), the
log file (resources/runtime/logs.py, and a log record factory for Python logging), and the Dagster
instance (`install_dagster_redaction`: every event stored, which covers failure descriptions,
error traces, asset metadata and run failure messages, and every run tag written).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MASK = "[redacted]"

# Named secrets the project reads (see movie_assets/producer_resources.py, gpu_jobs/console_api.py,
# resources/storage/s3.py, gpu_jobs/worker.py, movie_assets/cli/serve.py).
SECRET_ENV_NAMES = (
    "OPENAI_API_KEY",
    "AKASH_CONSOLE_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MOVIE_WORKER_SECRET",
    "MOVIE_PG_PASSWORD",
)
# Any other variable whose name says what it holds.
_SECRET_NAME = re.compile(r"(API_KEY|APIKEY|SECRET|TOKEN|PASSWORD|PASSWD)$|_KEY_SECRET", re.I)
# URLs whose password part is a secret.
_URL_ENV_NAMES = ("MOVIE_PG_URL", "DATABASE_URL")
# Key-shaped strings are masked even when the process does not know them (a proxy may echo the
# key of another project): OpenAI-style keys and bearer tokens.
_KEY_SHAPES = re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}|(?i:\bbearer\s+)[A-Za-z0-9_\-\.=+/]{16,}")
# Shorter values are not treated as secrets: masking "test" everywhere would garble the output.
MIN_SECRET_LENGTH = 8
# An echo of at least this many leading characters of a secret is masked too.
MIN_ECHO = 12

_registered: set[str] = set()
_lock = threading.Lock()
_lease_cache: dict[str, Any] = {"stamp": None, "values": frozenset()}


def register(*values: str | None) -> None:
    """Add secrets the environment does not hold (a lease's HMAC secret made at run time)."""
    with _lock:
        _registered.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)


def _from_environment(env: Mapping[str, str]) -> set[str]:
    found = set()
    for name, value in env.items():
        if not value:
            continue
        if name in SECRET_ENV_NAMES or _SECRET_NAME.search(name):
            found.add(value)
        elif name in _URL_ENV_NAMES:
            try:
                password = urlsplit(value).password
            except ValueError:
                password = None
            if password:
                found.add(password)
    return found


def _lease_secrets() -> frozenset[str]:
    """HMAC secrets of the GPU leases (MOVIE_HOME/gpu/leases.json), re-read when it changes."""
    try:
        from resources.runtime.settings import movie_home

        path: Path = movie_home() / "gpu" / "leases.json"
        stat = path.stat()
    except (OSError, ValueError):
        _lease_cache.update(stamp=None, values=frozenset())
        return frozenset()
    stamp = (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
    if _lease_cache["stamp"] != stamp:
        try:
            book = json.loads(path.read_text())
            values = frozenset(
                lease.get("secret", "")
                for lease in (book.get("leases") or {}).values()
                if isinstance(lease, dict)
            )
        except (OSError, ValueError, AttributeError):
            values = frozenset()
        _lease_cache.update(stamp=stamp, values=values)
    return _lease_cache["values"]


_known_cache: dict[str, Any] = {"key": None, "values": []}


def known_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret the process knows now, longest first (so a longer one masks whole)."""
    items = frozenset((os.environ if env is None else env).items())
    with _lock:
        registered = frozenset(_registered)
    key = (items, _lease_secrets(), registered)
    if _known_cache["key"] == key:
        return _known_cache["values"]
    values = _from_environment(dict(items)) | key[1] | registered
    values = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
    # The same secret as JSON or a repr writes it (quotes and backslashes escaped).
    values |= {json.dumps(v)[1:-1] for v in values}
    ordered = sorted(values, key=len, reverse=True)
    _known_cache.update(key=key, values=ordered)
    return ordered


def _mask_echoes(text: str, secret: str) -> str:
    """Mask a cut-off echo: the secret's first MIN_ECHO or more characters."""
    if len(secret) <= MIN_ECHO:
        return text
    head = secret[:MIN_ECHO]
    start = text.find(head)
    while start != -1:
        end = start + MIN_ECHO
        while end - start < len(secret) and end < len(text) and text[end] == secret[end - start]:
            end += 1
        text = text[:start] + MASK + text[end:]
        start = text.find(head, start + len(MASK))
    return text


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every known secret (and every key-shaped string) replaced by MASK."""
    if not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
        text = _mask_echoes(text, secret)
    if "sk-" in text or "earer" in text or "EARER" in text:  # the regex only where it can match
        text = _KEY_SHAPES.sub(MASK, text)
    return text


def contains_secret(text: str) -> bool:
    return redact(text) != text


def redact_value(value: Any, secrets: list[str] | None = None) -> Any:
    """Strings anywhere inside dicts, lists and tuples redacted (keys kept: they are names, and
    Dagster's serialized form needs its own); other values as they are."""
    secrets = known_secrets() if secrets is None else secrets
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v, secrets) for v in value)
    return value


# ---------------------------------------------------------------------------------------------
# Exceptions


class RedactedError(Exception):
    """Stands in for an exception whose text held a secret: same class name and message, masked.

    Its message is the redacted trace of the original, so the log and the UI still show where
    it came from."""

    def __init__(self, cls_name: str, message: str) -> None:
        super().__init__(message)
        self.cls_name = cls_name

    def __str__(self) -> str:
        return f"{self.cls_name}: {self.args[0]}"

    def __reduce__(self):  # crosses process boundaries (run workers) intact
        return (type(self), (self.cls_name, self.args[0]))


def error_mentions_secret(error: BaseException) -> bool:
    """Whether the text of `error` or of anything in its chain holds a secret."""
    seen: BaseException | None = error
    depth = 0
    while seen is not None and depth < 20:
        if contains_secret(f"{seen!s} {seen!r}"):
            return True
        seen = seen.__cause__ or seen.__context__
        depth += 1
    return False


def redacted_error(error: BaseException) -> RedactedError:
    """A secret-free copy of `error` and its chain, as one exception carrying the trace text."""
    import traceback

    trace = "".join(traceback.format_exception(error))
    return RedactedError(type(error).__name__, redact(trace))


# ---------------------------------------------------------------------------------------------
# Boundaries


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets in everything written through it."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self):  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")

    @property
    def errors(self):  # type: ignore[override]
        return getattr(self._inner, "errors", None)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def install_streams() -> None:
    """Wrap sys.stdout and sys.stderr (the terminal) so nothing secret reaches them."""
    import sys

    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))


_installed: dict[str, bool] = {}


def install_logging_redaction() -> None:
    """Every Python log record is redacted when it is made, whatever handler writes it."""
    if _installed.get("logging"):
        return
    _installed["logging"] = True
    original = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = original(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let the handler report it as it would
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[1] is not None:
            if error_mentions_secret(record.exc_info[1]):
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)


def _redact_serialized(value):
    """A Dagster serializable value with its secrets masked (unchanged when it holds none).

    Masked string by string in the parsed form, so the result is always well-formed."""
    from dagster_shared.serdes import deserialize_value, serialize_value

    secrets = known_secrets()
    if not secrets:  # nothing to mask: no serialization cost per event
        return value
    text = serialize_value(value)
    if redact(text, secrets) == text:
        return value
    clean = redact_value(json.loads(text), secrets)
    return deserialize_value(json.dumps(clean), type(value))


def install_dagster_redaction() -> None:
    """Mask secrets at the Dagster instance: every event it stores (failure descriptions, error
    traces, asset metadata, run failure messages) and every run tag written."""
    if _installed.get("dagster"):
        return
    _installed["dagster"] = True
    from dagster import DagsterInstance

    from resources.runtime.dagster_private import RunDomain

    handle_new_event = DagsterInstance.handle_new_event
    store_event = DagsterInstance.store_event
    add_run_tags = DagsterInstance.add_run_tags
    create_run = RunDomain.create_run  # every path that makes a run ends here

    def redacting_handle_new_event(self, event, *args, **kwargs):
        return handle_new_event(self, _redact_serialized(event), *args, **kwargs)

    def redacting_store_event(self, event, *args, **kwargs):
        return store_event(self, _redact_serialized(event), *args, **kwargs)

    def redacting_add_run_tags(self, run_id, new_tags, *args, **kwargs):
        return add_run_tags(self, run_id, redact_value(dict(new_tags)), *args, **kwargs)

    def redacting_create_run(self, *args, **kwargs):
        if kwargs.get("tags"):
            kwargs["tags"] = redact_value(dict(kwargs["tags"]))
        return create_run(self, *args, **kwargs)

    DagsterInstance.handle_new_event = redacting_handle_new_event  # type: ignore[method-assign]
    DagsterInstance.store_event = redacting_store_event  # type: ignore[method-assign]
    DagsterInstance.add_run_tags = redacting_add_run_tags  # type: ignore[method-assign]
    RunDomain.create_run = redacting_create_run  # type: ignore[method-assign]


def install_all(streams: bool = False) -> None:
    install_logging_redaction()
    install_dagster_redaction()
    if streams:
        install_streams()
