"""Delivery: the published movie (MOVIE_HOME/out/<id>.mp4, and in production the bucket object
published/<id>.mp4) follows the latest final_video.

The `final_video` step publishes what it just made, so a movie rebuilt from the UI, by the
automation sensor or by a schedule is delivered exactly like one built by the CLI; the CLI
re-publishes the latest materialization after its own builds (a rollback re-points without
running the step). Publishing is a hard link (no copy) swapped in with one rename, so a player
that has the file open keeps its old bytes and a reader never sees a half-written movie. The
published file is readable as the user's umask says (0644 under umask 022), not 0600 like the
store's private temporary files it links to.

`published_object` and `published_url` are what `movie status` and `movie url` print: the bucket
object and a presigned URL of it in production, the local file otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import dagster as dg

from resources.runtime.settings import movie_home
from resources.storage.store import ArtifactRef, ArtifactStore, atomic_write_bytes


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
    os.chmod(staging, 0o666 & ~current_umask())  # what the user's other files get
    os.replace(staging, target)
    return target


def current_umask() -> int:
    """This process's umask, read without changing it (Linux: /proc/self/status)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but rare)
    os.umask(mask)
    return mask


MAX_URL_EXPIRY_S = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


def _bucket_key(store: ArtifactStore, movie_id: str) -> str | None:
    """The bucket key of a movie's published object, for stores that publish one."""
    return store.published_key(f"{movie_id}.mp4")


def published_object(store: ArtifactStore, movie_id: str) -> str | None:
    """The published bucket object (s3://bucket/published/<id>.mp4) if it exists; None locally."""
    key = _bucket_key(store, movie_id)
    if key is None:
        return None
    # botocore comes with the production extra: only a bucket store needs it.
    from botocore.exceptions import ClientError

    try:
        store.client.head_object(Bucket=store.bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return f"s3://{store.bucket}/{key}"


def published_url(store: ArtifactStore, movie_id: str, expires_s: int) -> str | None:
    """Where to fetch the published movie: a presigned GET URL of the bucket object, valid for
    `expires_s`, in production; the local file's path otherwise. None when nothing is published."""
    if not 1 <= expires_s <= MAX_URL_EXPIRY_S:
        raise ValueError(
            f"expires: must be from 1 to {MAX_URL_EXPIRY_S} seconds (7 days), got {expires_s}"
        )
    if _bucket_key(store, movie_id) is None:
        path = published_path(movie_id)
        return str(path) if path.exists() else None
    uri = published_object(store, movie_id)
    if uri is None:
        return None
    return store.client.generate_presigned_url(
        "get_object",
        Params={"Bucket": store.bucket, "Key": uri.removeprefix(f"s3://{store.bucket}/")},
        ExpiresIn=expires_s,
    )


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
    from movie_assets.io_manager import latest_artifacts

    found = latest_artifacts(instance, dg.AssetKey("final_video"), movie_id)
    if found is None:
        return None
    return deliver(store, found.main, movie_id)
