"""User inputs as observable source assets.

Each source carries exactly the settings one producer depends on, so an edit makes only that
producer's partitions stale: changing the voice touches `voice_input` and nothing an image or the
script reads. The data version of a partition is the hash of its settings. Only slots inside a
movie's plan are observed; slots outside it stay unobserved, which keeps them out of automation.

The functions that slice the inputs are the same ones the assets use to read their settings,
so what Dagster versions and what a producer receives cannot drift apart.
"""

from collections.abc import Callable

import dagster as dg

from movie_assets.orchestration.input_versions import SOURCE_VERSIONS
from movie_assets.partitions import (
    movie_partitions,
    movie_segment_partitions,
    movie_shot_partitions,
    planned_partitions,
)
from resources.domain.models import BLUEPRINT_CLIP_MODE, ClipMode, parse_shot_key
from resources.storage.projects import MovieInputs, ProjectStoreResource, document_digest
from resources.storage.store import content_key


def brief_settings(inputs: MovieInputs) -> dict:
    r = inputs.request
    return {
        "prompt": r.prompt,
        "audience": r.audience.value,
        "language": r.language.value,
        "documents": document_digest(r.documents),
        "seed": r.seed,
    }


def plan_settings(inputs: MovieInputs) -> dict:
    return {"segments": inputs.request.segment_count}


def music_settings(inputs: MovieInputs) -> dict:
    r = inputs.request
    return {"music_prompt": r.music_prompt, "duration_s": r.duration_s, "seed": r.seed}


def assembly_settings(inputs: MovieInputs) -> dict:
    r = inputs.request
    return {
        "assembly_strategy": r.assembly_strategy.value,
        "aspect_ratio": r.aspect_ratio.value,
        "duration_s": r.duration_s,
    }


def narration_settings(inputs: MovieInputs, segment: str) -> dict:
    override = inputs.segments.get(segment)
    return {"narration": override.narration if override else None}


def voice_settings(inputs: MovieInputs, segment: str) -> dict:
    r = inputs.request
    override = inputs.segments.get(segment)
    return {
        "voice": (override and override.voice) or r.voice,
        "emotion": (override and override.emotion) or r.emotion.value,
        "language": r.language.value,
    }


def visual_settings(inputs: MovieInputs, segment: str) -> dict:
    r = inputs.request
    return {
        "image_style": r.image_style.value,
        "images_per_segment": r.images_per_segment,
        "aspect_ratio": r.aspect_ratio.value,
        "assembly_strategy": r.assembly_strategy.value,
        "seed": r.seed,
    }


def clip_mode(inputs: MovieInputs, segment: str) -> ClipMode:
    """The segment's own choice (`movie edit --segment N --video`) or the movie's blueprint."""
    override = inputs.segments.get(segment)
    if override is not None and override.video is not None:
        return ClipMode(override.video)
    return BLUEPRINT_CLIP_MODE[inputs.request.blueprint]


def clip_settings(inputs: MovieInputs, segment: str) -> dict:
    mode = clip_mode(inputs, segment)
    if mode is ClipMode.off:
        # A stills segment makes no clip: nothing else may make its clip partitions stale.
        return {"video": mode.value}
    r = inputs.request
    return {
        "video": mode.value,
        "image_style": r.image_style.value,
        "aspect_ratio": r.aspect_ratio.value,
        "seed": r.seed * 1000 + int(segment[1:]) * 10,
    }


def shot_settings(inputs: MovieInputs, shot: str) -> dict:
    r = inputs.request
    override = inputs.shots.get(shot)
    segment_index, image_index = parse_shot_key(shot)
    return {
        "image_prompt": override.image_prompt if override else None,
        "image_style": r.image_style.value,
        "aspect_ratio": r.aspect_ratio.value,
        "seed": r.seed * 1000 + segment_index * 10 + image_index,
    }


def _versions(
    name: str, level: str, settings: Callable[..., dict], movie_id: str, inputs: MovieInputs
) -> dict[str, dg.DataVersion]:
    """One source's data version for every planned partition of one movie."""
    versions: dict[str, dg.DataVersion] = {}
    for key in planned_partitions(movie_id, inputs.request, level):
        slot = key.keys_by_dimension[level] if isinstance(key, dg.MultiPartitionKey) else None
        values = settings(inputs) if slot is None else settings(inputs, slot)
        versions[str(key)] = dg.DataVersion(content_key(name, values)[:24])
    return versions


def _source(
    name: str,
    level: str,
    settings: Callable[..., dict],
    description: str,
) -> dg.SourceAsset:
    partitions_def = {
        "movie": movie_partitions,
        "segment": movie_segment_partitions,
        "shot": movie_shot_partitions,
    }[level]
    SOURCE_VERSIONS[name] = lambda movie_id, inputs: _versions(
        name, level, settings, movie_id, inputs
    )

    @dg.observable_source_asset(
        name=name,
        partitions_def=partitions_def,
        group_name="inputs",
        description=description,
    )
    def _observe(
        context: dg.OpExecutionContext, projects: ProjectStoreResource
    ) -> dg.DataVersionsByPartition:
        store = projects.store()
        versions: dict[str, dg.DataVersion] = {}
        for movie_id in store.list_ids():
            versions.update(SOURCE_VERSIONS[name](movie_id, store.load(movie_id)))
        return dg.DataVersionsByPartition(versions)

    return _observe


# Each source: the partitions it is observed in, what it carries, and its description.
_SOURCES = {
    "movie_brief": ("movie", brief_settings, "Prompt, audience, language, documents, seed."),
    "movie_plan": ("movie", plan_settings, "Duration: the number of segments."),
    "music_input": ("movie", music_settings, "User music prompt (optional) and duration."),
    "assembly_input": ("movie", assembly_settings, "Assembly strategy, aspect ratio, duration."),
    "segment_input": ("segment", narration_settings, "User-edited narration of a segment."),
    "voice_input": ("segment", voice_settings, "Voice, emotion and language of a segment."),
    "visual_input": (
        "segment",
        visual_settings,
        "Style, images per segment, aspect, transitions.",
    ),
    "shot_input": ("shot", shot_settings, "User-edited image prompt, style, aspect and seed."),
    "clip_input": (
        "segment",
        clip_settings,
        "Video or stills per segment (blueprint or override).",
    ),
}

INPUT_SOURCES = [_source(name, *source) for name, source in _SOURCES.items()]
