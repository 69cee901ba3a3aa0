"""Every provider call, one JSON line each, in MOVIE_HOME/ledger.jsonl: what was paid for.

`movie status` sums it; tests count it. Each record is one whole line written by a single
`write` to an O_APPEND file, so concurrent workers never interleave them. A crash or a full disk
can still leave a torn last line: the next record then starts on a new line of its own, and
readers skip the torn one and report it once (file and line number) instead of failing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from resources.domain.models import ProducerCall
from resources.runtime.settings import movie_home

log = logging.getLogger(__name__)
_REPORTED: set[tuple[str, int]] = set()


def ledger_path() -> Path:
    return movie_home() / "ledger.jsonl"


def append_record(path: Path, record: dict) -> None:
    """Append one JSON record as one line in one write; starts a new line after a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        # Appends are atomic, so the last byte is the end of a whole record or of a torn one.
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)
    finally:
        os.close(fd)


def read_records(path: Path, *, required: tuple[str, ...] = ()) -> list[dict]:
    """The file's whole records; torn or garbled lines are skipped and reported once each."""
    if not path.exists():
        return []
    records = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                if not isinstance(record, dict) or any(k not in record for k in required):
                    raise ValueError("not a whole record")
            except ValueError:
                if (str(path), number) not in _REPORTED:
                    _REPORTED.add((str(path), number))
                    log.warning("%s line %d is torn or garbled; skipped", path, number)
                continue
            records.append(record)
    return records


def record_call(*, movie_id: str, asset: str, partition: str, call: ProducerCall) -> None:
    append_record(
        ledger_path(),
        {"time": time.time(), "movie": movie_id, "asset": asset, "partition": partition}
        | call.model_dump(),
    )


_FIELDS = ("movie", "asset", "estimated_cost_usd")


def read_calls(movie_id: str | None = None) -> list[dict]:
    calls = read_records(ledger_path(), required=_FIELDS)
    return [c for c in calls if movie_id is None or c["movie"] == movie_id]
