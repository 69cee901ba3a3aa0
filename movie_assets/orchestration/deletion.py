"""Deleting a movie, and undoing it.

`movie delete ID` (or the UI's `delete_movie` job) removes the movie's partition, so no grid,
sensor or job shows it any more, and moves its inputs and edit log (MOVIE_HOME/movies/<id>) and
its published file (MOVIE_HOME/out/<id>.mp4) to MOVIE_HOME/deleted/<id>/<time>/. Nothing else is
touched: every revision's materialization stays in the instance and every artifact in the
content-addressed store, so `movie restore ID` brings the movie back as it was, with its whole
history (`movie history`, `movie rollback`), and nothing to rebuild.

The cleanup is `movie delete ID --purge`: it removes the deleted copies for good, after which the
movie cannot be restored (a new movie with that id starts from its own request; Dagster's SQL
storages cannot wipe single partitions, so old records stay in the instance, unreachable).
Stored artifacts are shared by content between movies and are never removed here.

A movie with a run in progress is not deleted (stop or wait for the run first).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import dagster as dg
from filelock import FileLock

from movie_assets.partitions import MOVIE_TAG
from resources.runtime.settings import dagster_home, movie_home
from resources.storage.projects import ProjectStore, UnknownMovie, validate_movie_id

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


class MovieBusy(ValueError):
    pass


def trash_dir(movie_id: str) -> Path:
    return movie_home() / "deleted" / validate_movie_id(movie_id)


def _partitions_lock() -> FileLock:
    return FileLock(str(dagster_home() / ".partitions.lock"))


def active_runs(instance: dg.DagsterInstance, movie_id: str) -> list[str]:
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=_ACTIVE, tags={MOVIE_TAG: movie_id}))
    return [run.run_id for run in runs]


def delete_movie(instance: dg.DagsterInstance, movie_id: str, this_run: str | None = None) -> Path:
    """Remove the movie's partition and move its inputs and published file aside; returns the
    folder they went to. `this_run` is the run doing the deleting (not "in progress")."""
    from movie_assets.orchestration.delivery import published_path

    validate_movie_id(movie_id)
    projects = ProjectStore()
    with projects.locked(movie_id):
        known = projects.exists(movie_id)
        if not known and not instance.has_dynamic_partition("movie", movie_id):
            raise UnknownMovie(f"no movie {movie_id!r}: see `movie list`")
        busy = [run for run in active_runs(instance, movie_id) if run != this_run]
        if busy:
            raise MovieBusy(
                f"movie {movie_id!r} has {len(busy)} run(s) in progress "
                f"({', '.join(r[:8] for r in busy)}); wait for them or terminate them first"
            )
        # The partition first: a partition without inputs would be taken for junk.
        with _partitions_lock():
            if instance.has_dynamic_partition("movie", movie_id):
                instance.delete_dynamic_partition("movie", movie_id)
        folder = trash_dir(movie_id) / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        folder.mkdir(parents=True, exist_ok=False)
        if known:
            shutil.move(str(projects.root / movie_id), str(folder / "movie"))
        published = published_path(movie_id)
        if published.exists():
            shutil.move(str(published), str(folder / published.name))
        (folder / "deleted.json").write_text(
            json.dumps({"movie_id": movie_id, "time": time.time(), "had_inputs": known})
        )
    return folder


def deleted_copies(movie_id: str) -> list[Path]:
    folder = trash_dir(movie_id)
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def restore_movie(instance: dg.DagsterInstance, movie_id: str) -> Path:
    """Bring back the latest deleted copy of the movie; returns the inputs folder."""
    from movie_assets.orchestration.builder import register_movie
    from movie_assets.orchestration.delivery import published_path

    projects = ProjectStore()
    with projects.locked(movie_id):
        if projects.exists(movie_id):
            raise ValueError(f"movie {movie_id!r} exists; delete it first or pick another id")
        copies = [c for c in deleted_copies(movie_id) if (c / "movie").is_dir()]
        if not copies:
            raise UnknownMovie(f"no deleted movie {movie_id!r} to restore")
        latest = copies[-1]
        target = projects.root / movie_id
        if target.exists():  # an empty folder left by something else
            shutil.rmtree(target)
        projects.root.mkdir(parents=True, exist_ok=True)
        shutil.move(str(latest / "movie"), str(target))
        video = latest / f"{movie_id}.mp4"
        if video.exists():
            published_path(movie_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(video), str(published_path(movie_id)))
        shutil.rmtree(latest)
        register_movie(instance, movie_id)
    return target


def purge_deleted(movie_id: str) -> int:
    """Remove the deleted copies of the movie for good; returns how many there were."""
    copies = deleted_copies(movie_id)
    for copy in copies:
        shutil.rmtree(copy)
    folder = trash_dir(movie_id)
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    return len(copies)


def remove_junk_partition(instance: dg.DagsterInstance, key: str) -> bool:
    """Delete a movie partition that has no inputs (the UI's "Add a partition"); False if it
    has inputs after all or is already gone."""
    projects = ProjectStore()
    try:
        if projects.exists(key):
            return False
    except ValueError:
        pass  # not a valid movie id at all: junk
    with _partitions_lock():
        try:
            if projects.exists(key):
                return False
        except ValueError:
            pass
        if not instance.has_dynamic_partition("movie", key):
            return False
        instance.delete_dynamic_partition("movie", key)
    return True
