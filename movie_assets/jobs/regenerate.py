"""`regenerate_movie`: the one obvious rebuild from the UI.

A job partitioned by movie: on its Launchpad, pick the movie and launch. Its one op plans with
exactly the code `movie regenerate` uses (observe the inputs, pending_work, plan_level per
level), runs each level's partitions as their own runs (tagged with the movie and level, shown in
the UI like the CLI's), then publishes the new final video. So the counts match the CLI's, and a
shot edit costs one image call whichever way it is rebuilt.
"""

from collections.abc import Callable

import dagster as dg

from movie_assets.instance.run_coordinator import LEVEL_TAG
from movie_assets.partitions import movie_partitions
from resources.storage.store import ArtifactStore

REGENERATE_JOB = "regenerate_movie"


def rebuild(context: dg.OpExecutionContext, movie_id: str, store: ArtifactStore) -> dg.Output:
    """Bring `movie_id` up to date in this run, as `movie regenerate` does; publish the video."""
    from movie_assets.checks.stale_marks import mark_pending
    from movie_assets.orchestration.builder import (
        Builder,
        build_levels,
        observe_inputs,
        pending_work,
    )
    from movie_assets.orchestration.delivery import publish_latest
    from resources.storage.projects import ProjectStore

    inputs = ProjectStore().load(movie_id)
    observe_inputs(context.instance, movie_id)
    pending = pending_work(context.instance, movie_id, inputs)
    mark_pending(context.instance, movie_id, pending)
    counts = {asset: len(rows) for asset, rows in pending.items()}
    context.log.info(
        f"to rebuild: {counts}" if pending else f"{movie_id} is up to date: nothing to rebuild"
    )
    # One partition per level runs in this process; wider levels get two worker processes.
    workers = 0 if max(counts.values(), default=0) <= 1 else 2

    def follow(job: str, plan) -> Callable:
        if plan is not None:
            context.log.info(f"level {job}: {len(plan.work)} partition run(s)")
        return lambda work, error: None

    with Builder(workers) as builder:
        failures = build_levels(context.instance, movie_id, inputs, pending, builder, follow)
    if failures:
        raise dg.Failure(
            description=f"{len(failures)} partition(s) failed",
            metadata={f"{w.job} {w.partition}": error[:500] for w, error in failures},
        )
    mark_pending(context.instance, movie_id, {})
    published = publish_latest(context.instance, movie_id, store)
    metadata: dict = {
        "movie": movie_id,
        "rebuilt": dg.MetadataValue.json(counts),
        "partitions_rebuilt": sum(counts.values()),
    }
    if published is not None:
        metadata["published"] = dg.MetadataValue.path(str(published.path))
    return dg.Output(counts, metadata=metadata)


@dg.op(
    description="Rebuild every stale or missing planned partition of the movie, level by level, "
    "as `movie regenerate` would; then publish the new video.",
)
def rebuild_stale_partitions(
    context: dg.OpExecutionContext, store: ArtifactStore
) -> dg.Output[dict]:
    return rebuild(context, context.partition_key, store)


@dg.job(
    name=REGENERATE_JOB,
    partitions_def=movie_partitions,
    tags={LEVEL_TAG: "regenerate"},
    description="Pick a movie and launch: rebuilds exactly what is stale or missing in it "
    "(the same plan as `movie regenerate ID`) and publishes the new video.",
)
def regenerate_movie() -> None:
    rebuild_stale_partitions()
