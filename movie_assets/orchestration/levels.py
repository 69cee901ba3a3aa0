"""The order a movie is built in: one level per partitions definition, each a run per partition.

movie -> segments -> shots -> segments -> movie. Plain data, read by the builder, the queue,
verification and the command line; movie_assets/jobs/levels.py makes one asset job of each.
"""

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
