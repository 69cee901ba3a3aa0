"""Tags that let a user follow one movie's runs, however they were launched.

The CLI tags its own runs. Runs launched from the UI, by a sensor, a schedule or a backfill go
through the instance's run coordinator, so `MovieRunCoordinator` (named in dagster.yaml and
dagster.production.yaml) adds the same tags there: `movie/id` and a readable `movie/level`,
plus `movie/pool: gpu` on runs with GPU steps, which the queue limits.
It also refuses, with a message on the run and before any process starts: a movie partition
that has no inputs (the UI's "Add a partition" can create one; the junk partition is removed
too), and a `new_movie` request that `movie generate` would refuse (so nothing is created).
"""

from __future__ import annotations

import os

import dagster as dg
from dagster import QueuedRunCoordinator, SubmitRunContext

from movie_assets.partitions import MOVIE_TAG
from resources.runtime.dagster_private import REPOSITORY_LABEL_TAG
from resources.storage.projects import ProjectStore

LEVEL_TAG = "movie/level"
# Runs with a step in the `gpu` pool; set at submission so the queue's tag limit can hold them
# (a tag set later, at launch, is seen by the queue only after the run has left it).
GPU_POOL_TAG = "movie/pool"
GPU_POOL = "gpu"
LOCATION_NAME = "movie"  # the code location's name in workspace.yaml and `movie serve`
# The UI lists a job's runs by this tag; the CLI's in-process runs carry it so they show there.
REPOSITORY_LABEL = {REPOSITORY_LABEL_TAG: f"__repository__@{LOCATION_NAME}"}
_ASSET_JOB_PREFIX = "__ASSET_JOB"


def record_code_location(instance: dg.DagsterInstance, run_id: str) -> None:
    """Give a finished in-process run (the CLI's) the code location's origin, as runs launched
    through the UI have: the Overview timeline and the job pages list only runs that have one.
    Done after the run, with its final record, since the origin rewrites the stored run."""
    from resources.runtime.dagster_private import (
        SINGLETON_REPOSITORY_NAME,
        InProcessCodeLocationOrigin,
        LoadableTargetOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )

    run = instance.get_run_by_id(run_id)
    if run is None or run.remote_job_origin is not None:
        return
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="movie_assets.definitions"), location_name=LOCATION_NAME
    )
    repository = RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME)
    instance.run_storage.replace_job_origin(run, RemoteJobOrigin(repository, run.job_name))


def movie_of(run: dg.DagsterRun, instance: dg.DagsterInstance) -> str | None:
    """The movie a run works on: its tag, or the `movie` part of its partition."""
    tags = run.tags
    if tags.get(MOVIE_TAG):
        return tags[MOVIE_TAG]
    from movie_assets.jobs.launch import movie_of_config

    configured = movie_of_config(run.job_name, run.run_config)
    if configured:
        return configured
    if tags.get("dagster/partition/movie"):
        return tags["dagster/partition/movie"]
    partition = tags.get("dagster/partition")
    # A single-dimension key is a movie id only in the `movie` dimension (not a batch name).
    if (
        partition
        and "dagster/partition/" not in "".join(tags)
        and instance.has_dynamic_partition("movie", partition)
    ):
        return partition
    return None


def level_of(run: dg.DagsterRun) -> str:
    """A short readable name for what the run builds: its job, or the assets it selects."""
    if not run.job_name.startswith(_ASSET_JOB_PREFIX):
        return run.job_name
    names = sorted(key.path[-1] for key in (run.asset_selection or ()))
    checks = sorted(key.name for key in (run.asset_check_selection or ()))
    label = ", ".join(names or checks) or run.job_name
    return label if len(label) <= 60 else label[:57] + "..."


def movie_run_tags(run: dg.DagsterRun, movie_id: str | None) -> dict[str, str]:
    """The tags a run of a movie should carry and does not yet."""
    wanted = {LEVEL_TAG: run.tags.get(LEVEL_TAG) or level_of(run)}
    if movie_id:
        wanted[MOVIE_TAG] = movie_id
    return {key: value for key, value in wanted.items() if run.tags.get(key) != value}


class MovieRunCoordinator(QueuedRunCoordinator):
    """Dagster's run queue, plus the movie's tags on every submitted run."""

    def register_instance(self, instance: dg.DagsterInstance) -> None:
        super().register_instance(instance)
        from gpu_jobs.console_api import API_KEY_ENV

        # The daemon builds its run launcher only at its first launch, but GPU leases opened
        # before a restart need their idle closing and top-ups now: in the process holding the
        # Console API key (the daemon's queue asks for this coordinator within a second of its
        # start) the launcher is built at once, and resumes that maintenance.
        if os.environ.get(API_KEY_ENV):
            instance.run_launcher  # noqa: B018

    def submit_run(self, context: SubmitRunContext) -> dg.DagsterRun:
        from movie_assets.instance.launchers import uses_pool

        run = context.dagster_run
        movie_id = movie_of(run, self._instance)
        tags = movie_run_tags(run, movie_id)
        if uses_pool(self._instance, run, GPU_POOL) and run.tags.get(GPU_POOL_TAG) != GPU_POOL:
            tags[GPU_POOL_TAG] = GPU_POOL
        if tags:
            self._instance.add_run_tags(run.run_id, tags)
            run = self._instance.get_run_by_id(run.run_id) or run
        refusal = None
        if run.status == dg.DagsterRunStatus.NOT_STARTED:
            from movie_assets.jobs.launch import DELETE_JOB, NEW_MOVIE_JOB, refusal_of

            refusal = refusal_of(run.job_name, run.run_config)
            if not refusal and movie_id and run.job_name not in (NEW_MOVIE_JOB, DELETE_JOB):
                refusal = refuse(movie_id)
                if refusal and _partition_movie(run) == movie_id:
                    from movie_assets.orchestration.deletion import remove_junk_partition

                    if remove_junk_partition(self._instance, movie_id):
                        refusal += "; the partition was removed"
        if refusal:
            self._instance.report_run_failed(run, refusal)
            return self._instance.get_run_by_id(run.run_id) or run
        return super().submit_run(SubmitRunContext(run, context.workspace))


def _partition_movie(run: dg.DagsterRun) -> str | None:
    tags = run.tags
    return tags.get("dagster/partition/movie") or (
        tags.get("dagster/partition") if "dagster/partition/" not in "".join(tags) else None
    )


def refuse(movie_id: str) -> str | None:
    """Why no run may build this movie partition, or None if it may."""
    try:
        if ProjectStore().exists(movie_id):
            return None
    except ValueError as invalid:
        return str(invalid)
    return (
        f"movie {movie_id!r} has no inputs: a movie is created with the `new_movie` job, "
        "`movie generate` or `movie import`, not by adding a partition in the UI"
    )
