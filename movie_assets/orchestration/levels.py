"""The order a movie is built in: one level per partitions definition, each a run per partition.

movie -> segments -> shots -> segments -> movie. Plain data, read by the builder, the queue,
verification and the command line; movie_assets/jobs/levels.py makes one asset job of each.
"""

import dagster as dg

from movie_assets.orchestration.code_location import definitions

# The check that plans the whole movie (checks/stale_marks.py); never run inside a level's run.
UP_TO_DATE = "up_to_date"

LEVELS: list[tuple[str, str, list[str]]] = [
    ("write", "movie", ["research", "script", "music_prompt", "music_track"]),
    (
        "narrate",
        "segment",
        ["segment_narration", "narration_audio", "image_prompts", "video_prompt"],
    ),
    ("illustrate", "shot", ["shot_image"]),
    ("render_segments", "segment", ["segment_clip", "segment_visual"]),
    ("assemble", "movie", ["captions", "timeline", "final_video", "thumbnail"]),
]


def quality_checks(assets: list[str]) -> set[dg.AssetCheckKey]:
    """The checks a partition run of these assets executes: their quality checks, not
    `up_to_date`. Named explicitly because a run subset by assets alone takes every check of
    those assets, and an in-run `up_to_date` would plan the whole movie in every run."""
    defs = definitions()

    wanted = {dg.AssetKey(a) for a in assets}
    return {
        key
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key in wanted and key.name != UP_TO_DATE
    }
