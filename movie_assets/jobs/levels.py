"""One job per level of the build. A run covers one partitions definition, so a movie is built
level by level: movie -> segments -> shots -> segments -> movie."""

import dagster as dg

from movie_assets.checks.stale_marks import UP_TO_DATE
from movie_assets.orchestration.levels import LEVELS
from movie_assets.partitions import (
    movie_partitions,
    movie_segment_partitions,
    movie_shot_partitions,
)

_PARTITIONS = {
    "movie": movie_partitions,
    "segment": movie_segment_partitions,
    "shot": movie_shot_partitions,
}

LEVEL_JOBS = {
    name: dg.define_asset_job(
        name=name,
        # The quality checks run with their assets; `up_to_date` (a whole-movie plan) does not.
        selection=dg.AssetSelection.assets(*keys)
        - dg.AssetSelection.checks(*(dg.AssetCheckKey(dg.AssetKey(k), UP_TO_DATE) for k in keys)),
        partitions_def=_PARTITIONS[level],
        description=f"Build level '{name}': {', '.join(keys)}",
    )
    for name, level, keys in LEVELS
}


def quality_checks(assets: list[str]) -> set[dg.AssetCheckKey]:
    """The checks a partition run of these assets executes: their quality checks, not
    `up_to_date`. Named explicitly because a run subset by assets alone takes every check of
    those assets, and an in-run `up_to_date` would plan the whole movie in every run."""
    from movie_assets.definitions import defs

    wanted = {dg.AssetKey(a) for a in assets}
    return {
        key
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key in wanted and key.name != UP_TO_DATE
    }

