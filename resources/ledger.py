"""Every provider call, one JSON line each, in MOVIE_HOME/ledger.jsonl: what was paid for.

`movie status` sums it; tests count it. Lines are short single writes to an O_APPEND file, so
concurrent workers never interleave them.
"""

from __future__ import annotations

import json
import os
import time

from resources.models import ProducerCall
from resources.settings import movie_home


def ledger_path():
    return movie_home() / "ledger.jsonl"


def record_call(*, movie_id: str, asset: str, partition: str, call: ProducerCall) -> None:
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {"time": time.time(), "movie": movie_id, "asset": asset, "partition": partition}
        | call.model_dump(),
        ensure_ascii=False,
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def read_calls(movie_id: str | None = None) -> list[dict]:
    path = ledger_path()
    if not path.exists():
        return []
    calls = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [c for c in calls if movie_id is None or c["movie"] == movie_id]
