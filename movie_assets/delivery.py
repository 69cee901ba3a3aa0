"""Delivery: the published movie (MOVIE_HOME/out/<id>.mp4, and in production the bucket object
published/<id>.mp4) follows the latest final_video.

The `final_video` step publishes what it just made, so a movie rebuilt from the UI, by the
automation sensor or by a schedule is delivered exactly like one built by the CLI; the CLI
re-publishes the latest materialization after its own builds (a rollback re-points without
running the step). Publishing is a hard link (no copy) swapped in with one rename, so a player
that has the file open keeps its old bytes and a reader never sees a half-written movie.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import dagster as dg

from resources.settings import movie_home
from resources.store import ArtifactRef, ArtifactStore, atomic_write_bytes


def published_path(movie_id: str) -> Path:
    return movie_home() / "out" / f"{movie_id}.mp4"


def publish(source: Path, movie_id: str) -> Path:
    """Make `source` the published movie of `movie_id`, atomically; returns the published path."""
    target = published_path(movie_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and os.path.samefile(source, target):
        return target  # already published (renaming a link onto itself would keep both names)
    # A per-process staging name: two publishers (CLI and a UI run) never share a half-link.
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    try:
        os.link(source, staging)
    except OSError:  # another file system, or no hard links: copy (still atomic below)
        atomic_write_bytes(staging, source.read_bytes())
    os.replace(staging, target)
    return target


class Delivered(NamedTuple):
    path: Path  # the file users open
    uri: str | None  # the store's published object (production), None locally


def deliver(store: ArtifactStore, ref: ArtifactRef, movie_id: str) -> Delivered:
    """Publish a final video: the local file, then the store's published object."""
    path = publish(store.local_path(ref), movie_id)
    return Delivered(path, store.publish(ref, f"{movie_id}.mp4"))


def publish_latest(
    instance: dg.DagsterInstance, movie_id: str, store: ArtifactStore
) -> Delivered | None:
    """Publish the latest final_video materialization of a movie; None if it has none."""
    from movie_assets.io import latest_artifacts

    found = latest_artifacts(instance, dg.AssetKey("final_video"), movie_id)
    if found is None:
        return None
    return deliver(store, found.main, movie_id)
