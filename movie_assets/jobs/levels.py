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
