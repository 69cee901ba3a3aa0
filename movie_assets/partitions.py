"""Partitions and the mappings between levels, defined once.

Dagster allows two dimensions per multi-partition, so a movie is a dynamic `movie` dimension
crossed with a static slot dimension per level: movie, movie x segment (s00..s29) and
movie x shot (s00i0..s29i4). `movie` sorts first, so one movie's keys form a contiguous range.
Only built-in mappings are used: the webserver and daemon drop custom PartitionMapping classes,
and the one that maps shots to segments (StaticPartitionMapping) needs static slot dimensions.

Which slots: a process that runs builds keeps every slot, since it may plan a movie created after
it loaded. The code server that describes the assets to the UI and the daemon (MOVIE_SLOTS=planned,
set by `movie ui` and `movie serve`) keeps only the slots some movie of the project plans, so
the partition grid does not show slots no movie uses as missing work; those commands reload it
when the planned slots change (movie_assets/instance/slot_watch.py).
"""

import multiprocessing
import os
import warnings

import dagster as dg

from resources.domain.models import (
    MAX_IMAGES_PER_SEGMENT,
    MAX_SEGMENTS,
    MovieRequest,
    segment_key,
    shot_key,
)
from resources.storage.projects import ProjectStore

# The multi-dimension mappings are marked beta; they are the ones the daemon and webserver honour.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

ALL_SEGMENT_SLOTS = [segment_key(i) for i in range(MAX_SEGMENTS)]
ALL_SHOT_SLOTS = [
    shot_key(s, i) for s in range(MAX_SEGMENTS) for i in range(MAX_IMAGES_PER_SEGMENT)
]
SLOTS_ENV = "MOVIE_SLOTS"


def planned_slots(projects: ProjectStore | None = None) -> tuple[list[str], list[str]]:
    """The segment and shot slots that some movie of the project plans, in slot order."""
    segments: set[str] = set()
    shots: set[str] = set()
    projects = projects or ProjectStore()
    for movie_id in projects.list_ids():
        try:
            request = projects.load(movie_id).request
        except (OSError, ValueError):  # an unreadable movie plans nothing; `movie list` says why
            continue
        segments.update(request.segment_keys())
        shots.update(request.shot_keys())
    return sorted(segments), sorted(shots)


def _describes_planned_slots() -> bool:
    """True in the code server's own process when MOVIE_SLOTS=planned. The runs it starts are its
    multiprocessing children: they keep every slot (a batch run plans movies it creates)."""
    if os.environ.get(SLOTS_ENV, "all") not in ("all", "planned"):
        raise ValueError(f"{SLOTS_ENV} must be 'all' or 'planned', got {os.environ[SLOTS_ENV]!r}")
    return os.environ.get(SLOTS_ENV) == "planned" and multiprocessing.parent_process() is None


SEGMENT_SLOTS, SHOT_SLOTS = (
    planned_slots() if _describes_planned_slots() else (ALL_SEGMENT_SLOTS, ALL_SHOT_SLOTS)
)

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


# The tag naming the movie a run builds (set on every run, however it was launched).
MOVIE_TAG = "movie/id"


def planned_partitions(
    movie_id: str, request: MovieRequest, level: str
) -> list[str | dg.MultiPartitionKey]:
    """The partition keys of one movie at a level ('movie', 'segment' or 'shot') in its plan."""
    if level == "movie":
        return [movie_id]
    if level == "segment":
        return [segment_partition(movie_id, s) for s in request.segment_keys()]
    return [shot_partition(movie_id, s) for s in request.shot_keys()]
