"""Per-provider concurrency limits that hold across processes (CLI workers, daemon-launched runs),
built on file locks in MOVIE_HOME/locks: a provider with limit N has N lock files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from resources.runtime.settings import movie_home


@contextmanager
def producer_slot(provider: str, limit: int, poll_s: float = 0.05) -> Iterator[int]:
    """Hold one of `limit` slots for `provider` while the body runs; yields the slot number."""
    if limit < 1:
        raise ValueError(f"concurrency limit for {provider} must be at least 1, got {limit}")
    lock_dir = movie_home() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    locks = [FileLock(str(lock_dir / f"{provider}.{i}.lock")) for i in range(limit)]
    while True:
        for index, lock in enumerate(locks):
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            try:
                yield index
            finally:
                lock.release()
            return
        time.sleep(poll_s)


@contextmanager
def content_lock(key: str) -> Iterator[None]:
    """Hold the lock of one producer call's content key, across processes: the second caller
    waits, then finds the first caller's result in the store instead of paying again."""
    lock_dir = movie_home() / "locks" / "calls" / key[:2]
    lock_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_dir / f"{key}.lock")):
        yield
