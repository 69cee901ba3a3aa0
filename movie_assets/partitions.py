"""Partitions and the mappings between levels, defined once.

Dagster allows two dimensions per multi-partition, so a movie is a dynamic `movie` dimension
crossed with a static slot dimension per level: movie, movie x segment (s00..s29) and
movie x shot (s00i0..s29i4). `movie` sorts first, so one movie's keys form a contiguous range.
Only built-in mappings are used: the webserver and daemon drop custom PartitionMapping classes.
"""

import warnings

import dagster as dg

from resources.models import MAX_IMAGES_PER_SEGMENT, MAX_SEGMENTS, segment_key, shot_key

# The multi-dimension mappings are marked beta; they are the ones the daemon and webserver honour.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

SEGMENT_SLOTS = [segment_key(i) for i in range(MAX_SEGMENTS)]
SHOT_SLOTS = [shot_key(s, i) for s in range(MAX_SEGMENTS) for i in range(MAX_IMAGES_PER_SEGMENT)]

movie_partitions = dg.DynamicPartitionsDefinition(name="movie")
# One partition per named batch of movies (its report); the nightly rebuild is one too.
batch_partitions = dg.DynamicPartitionsDefinition(name="batch")
movie_segment_partitions = dg.MultiPartitionsDefinition(
    {"movie": movie_partitions, "segment": dg.StaticPartitionsDefinition(SEGMENT_SLOTS)}
)
movie_shot_partitions = dg.MultiPartitionsDefinition(
    {"movie": movie_partitions, "shot": dg.StaticPartitionsDefinition(SHOT_SLOTS)}
)

# movie <-> movie x slot: every slot of the same movie.
same_movie = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="movie")

# A shot reads its segment (segment_to_shots); a segment reads its <=5 shots (shots_to_segment).
_shot_to_segment = {shot: shot[:3] for shot in SHOT_SLOTS}
segment_to_shots = dg.MultiPartitionMapping(
    {
        "movie": dg.DimensionPartitionMapping("movie", dg.IdentityPartitionMapping()),
        "segment": dg.DimensionPartitionMapping(
            "shot",
            dg.StaticPartitionMapping(
                {segment: [s for s in SHOT_SLOTS if s[:3] == segment] for segment in SEGMENT_SLOTS}
            ),
        ),
    }
)
shots_to_segment = dg.MultiPartitionMapping(
    {
        "movie": dg.DimensionPartitionMapping("movie", dg.IdentityPartitionMapping()),
        "shot": dg.DimensionPartitionMapping(
            "segment", dg.StaticPartitionMapping({s: [seg] for s, seg in _shot_to_segment.items()})
        ),
    }
)


def movie_key(partition_key: str | dg.MultiPartitionKey) -> str:
    if isinstance(partition_key, dg.MultiPartitionKey):
        return partition_key.keys_by_dimension["movie"]
    return str(partition_key).split("|")[0]


def slot_key(partition_key: dg.MultiPartitionKey) -> str:
    return next(v for k, v in partition_key.keys_by_dimension.items() if k != "movie")


def segment_partition(movie_id: str, segment: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"movie": movie_id, "segment": segment})


def shot_partition(movie_id: str, shot: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"movie": movie_id, "shot": shot})
