"""Image prompts per segment, one image per shot, and the rendered picture of each segment."""

import os

import dagster as dg

from movie_assets.assets.inputs import shot_settings, visual_settings
from movie_assets.assets.producer_steps import (
    Step,
    artifact_asset,
    artifact_output,
    md_escape,
    writes_result,
)
from movie_assets.io_manager import FAN_IN, Artifacts
from movie_assets.partitions import (
    movie_segment_partitions,
    movie_shot_partitions,
    segment_to_shots,
    shots_to_segment,
)
from resources.domain.models import (
    SEGMENT_SECONDS,
    SPEECH_LEAD_IN_S,
    AspectRatio,
    AssemblyStrategy,
    ImagePrompts,
    ImageStyle,
    SegmentClip,
    SegmentScript,
    SpeechTimings,
    parse_shot_key,
)
from resources.media.captions import cues_from_words
from resources.media.renderer import FfmpegRenderer, StoreChunks
from resources.producers.images.generators import ImageGenerator
from resources.producers.text.language_models import LanguageModel

GROUP = "visuals"


# Stills drawn by diffusers need a GPU: in the `gpu` pool their runs go to an Akash lease
# (movie_assets.instance.launchers). Offline and API-drawn stills run anywhere.
IMAGES_POOL = "gpu" if os.environ.get("MOVIE_IMAGES", "").strip().lower() == "diffusers" else None


@artifact_asset(
    partitions_def=movie_segment_partitions,
    ins={"segment_narration": None},
    deps=["visual_input"],
    group_name=GROUP,
    kinds={"llm"},
    description="The m image prompts of a segment (one LLM call per segment).",
    calls_producer=True,
)
def image_prompts(
    step: Step, segment_narration: Artifacts, llm: LanguageModel
) -> dg.Output[Artifacts]:
    settings = visual_settings(step.inputs, step.slot)
    narration = step.store.read_model(segment_narration.main, SegmentScript)
    count = settings["images_per_segment"]
    style = ImageStyle(settings["image_style"])
    made = step.produce(
        llm,
        ".json",
        key=("image_prompts", narration.model_dump(), style.value, count),
        make=writes_result(lambda: llm.image_prompts(narration, style=style, count=count)),
    )
    prompts = step.store.read_model(made.ref, ImagePrompts).prompts
    listed = "\n".join(f"- {md_escape(p)}" for p in prompts)
    return made.output(
        narration=segment_narration.main, extra={"prompts": dg.MetadataValue.md(listed)}
    )


@artifact_asset(
    partitions_def=movie_shot_partitions,
    ins={"image_prompts": segment_to_shots},
    deps=["shot_input"],
    group_name=GROUP,
    kinds={"image"},
    pool=IMAGES_POOL,
    description="One still image per shot, from its prompt (or the user's edited prompt).",
    calls_producer=True,
)
def shot_image(
    step: Step, image_prompts: Artifacts, images: ImageGenerator
) -> dg.Output[Artifacts]:
    shot = step.slot
    _, image_index = parse_shot_key(shot)
    settings = shot_settings(step.inputs, shot)
    prompts = step.store.read_model(image_prompts.main, ImagePrompts).prompts
    if image_index >= len(prompts) and not settings["image_prompt"]:
        raise dg.Failure(f"shot {shot} has no prompt: the segment has {len(prompts)} prompts")
    prompt = settings["image_prompt"] or prompts[image_index]
    narration = step.store.read_model(image_prompts.files["narration"], SegmentScript)
    # The first shot of a segment carries its on-screen title; the rest are pictures only.
    on_screen = narration.on_screen_text if image_index == 0 else ""
    width, height = AspectRatio(settings["aspect_ratio"]).size
    style = ImageStyle(settings["image_style"])

    def make(out_path):
        return images.generate(
            prompt,
            on_screen_text=on_screen,
            style=style,
            width=width,
            height=height,
            seed=settings["seed"],
            out_path=out_path,
        )

    made = step.produce(images, ".png", key=("shot_image", prompt, on_screen, settings), make=make)
    return made.output(extra={"prompt": prompt, "edited_by_user": bool(settings["image_prompt"])})


@artifact_asset(
    partitions_def=movie_segment_partitions,
    ins={
        "shot_image": dg.AssetIn(
            partition_mapping=shots_to_segment,
            input_manager_key="artifact_io",
            metadata={FAN_IN: True},
        ),
        "narration_audio": None,
        "segment_clip": None,
    },
    deps=["visual_input"],
    group_name=GROUP,
    kinds={"ffmpeg"},
    description=(
        "The segment's picture with burned-in captions (MP4): its generated clip, or Ken Burns "
        "over its stills (stills segments, and clips that fell back)."
    ),
)
def segment_visual(
    step: Step,
    shot_image: dict[str, Artifacts],
    narration_audio: Artifacts,
    segment_clip: Artifacts,
    renderer: FfmpegRenderer,
) -> dg.Output[Artifacts]:
    segment, store = step.slot, step.store
    settings = visual_settings(step.inputs, segment)
    count = settings["images_per_segment"]
    by_slot = {key.split("|")[-1]: value for key, value in shot_image.items()}
    wanted = [f"{segment}i{i}" for i in range(count)]
    missing = [s for s in wanted if s not in by_slot]
    if missing:
        raise dg.Failure(f"segment {segment} needs shots {missing} first")
    timings = store.read_model(narration_audio.files["timings"], SpeechTimings)
    cues = cues_from_words(timings.words, offset_s=SPEECH_LEAD_IN_S)
    width, height = AspectRatio(settings["aspect_ratio"]).size
    # What both kinds of segment picture share: size, length, captions, transitions.
    frame = {
        "width": width,
        "height": height,
        "duration_s": SEGMENT_SECONDS,
        "cues": cues,
        "strategy": AssemblyStrategy(settings["assembly_strategy"]),
    }
    clip = store.read_model(segment_clip.files.get("info", segment_clip.main), SegmentClip)
    made: dict = {}  # a stills segment: how many chunks it has and how many were encoded now
    if clip.has_clip:
        clip_path = store.local_path(segment_clip.main)
        ref = store.make(
            ".mp4",
            lambda out: renderer.render_clip(clip_path, **frame, out_path=out),
        )
    else:
        images = [store.local_path(by_slot[s].main) for s in wanted]
        # Chunks (one per shot body and per transition) are kept in the store: after a shot
        # edit only the chunks that show that shot are encoded again.
        ref = store.make(
            ".mp4",
            lambda out: made.update(
                renderer.render_segment(
                    images,
                    **frame,
                    seed=settings["seed"] + int(segment[1:]),
                    out_path=out,
                    chunks=StoreChunks(store),
                )
            ),
        )
    extra = {
        "picture": "clip" if clip.has_clip else "stills",
        "shots": [] if clip.has_clip else wanted,
        "captions": len(cues),
        "duration_s": SEGMENT_SECONDS,
        **made,
    }
    if clip.fallback:
        extra |= {"fallback": clip.fallback, "error": clip.error or ""}
    return artifact_output({"main": ref}, extra=extra)
