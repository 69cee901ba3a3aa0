"""Generated video per segment: the video prompt and the clip (VideoByText / VideoByImage).

A segment is stills (mode off), a clip from its video prompt (text) or a clip animated from its
first image (image): the movie's blueprint decides, a per-segment override wins. Stills segments
make no clip and call no provider; their partitions hold a small "no clip" record so the plan
stays complete. A clip that still fails after its retries does not stop the movie: the segment
falls back to its stills, the materialization says so, and the next build retries the clip.
"""

import dagster as dg

from movie_assets.assets.inputs import clip_settings
from movie_assets.assets.producer_steps import Step, artifact_asset, artifact_output
from movie_assets.io_manager import FAN_IN, Artifacts
from movie_assets.orchestration.clip_fallbacks import FALLBACK
from movie_assets.partitions import movie_segment_partitions, shots_to_segment
from resources.domain.errors import ProviderError
from resources.domain.models import (
    SEGMENT_SECONDS,
    AspectRatio,
    ClipMode,
    ImageStyle,
    SegmentClip,
    SegmentScript,
    VideoPrompt,
)
from resources.media.probe import probe
from resources.producers.text.language_models import LanguageModel
from resources.producers.video.animator import VideoGenerator

GROUP = "visuals"
CLIP_RETRIES = 2


@artifact_asset(
    partitions_def=movie_segment_partitions,
    ins={"segment_narration": None},
    deps=["clip_input"],
    group_name=GROUP,
    kinds={"llm"},
    description="The motion prompt of a video segment (one LLM call); empty for stills.",
)
def video_prompt(
    step: Step, segment_narration: Artifacts, llm: LanguageModel
) -> dg.Output[Artifacts]:
    settings = clip_settings(step.inputs, step.slot)
    mode = ClipMode(settings["video"])
    if mode is ClipMode.off:
        ref = step.store.put_model(VideoPrompt(mode=mode))
        return artifact_output({"main": ref}, extra={"mode": mode.value})
    narration = step.store.read_model(segment_narration.main, SegmentScript)
    style = ImageStyle(settings["image_style"])

    def make(out_path):
        text, call = llm.video_prompt(narration, style=style, from_image=mode is ClipMode.image)
        out_path.write_text(VideoPrompt(mode=mode, prompt=text).model_dump_json(indent=2))
        return call

    made = step.produce(
        llm,
        ".json",
        key=("video_prompt", narration.model_dump(), style.value, mode.value),
        make=make,
    )
    written = step.store.read_model(made.ref, VideoPrompt)
    return made.output(extra={"mode": mode.value, "prompt": written.prompt})


def _retry_may_help(error: BaseException) -> bool:
    """False when the provider said the request itself is wrong (it would fail again)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ProviderError):
            return seen.retryable
        if isinstance(seen, dg.Failure) and not seen.allow_retries:
            return False
        seen = seen.__cause__
    return True


@artifact_asset(
    partitions_def=movie_segment_partitions,
    ins={
        "video_prompt": None,
        "shot_image": dg.AssetIn(
            partition_mapping=shots_to_segment,
            input_manager_key="artifact_io",
            metadata={FAN_IN: True},
        ),
    },
    deps=["clip_input"],
    group_name=GROUP,
    kinds={"video", "gpu"},
    pool="gpu",
    retry_policy=dg.RetryPolicy(
        max_retries=CLIP_RETRIES,
        delay=2,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    ),
    description="The segment's generated clip (text- or image-to-video); stills make none.",
)
def segment_clip(
    step: Step,
    video_prompt: Artifacts,
    shot_image: dict[str, Artifacts],
    text_to_video: VideoGenerator,
    image_to_video: VideoGenerator,
) -> dg.Output[Artifacts]:
    context, store, segment = step.context, step.store, step.slot
    settings = clip_settings(step.inputs, segment)
    mode = ClipMode(settings["video"])
    if mode is ClipMode.off:
        return artifact_output(
            {"main": store.put_model(SegmentClip(mode=mode))}, extra={"mode": mode.value}
        )
    prompt = store.read_model(video_prompt.main, VideoPrompt).prompt
    width, height = AspectRatio(settings["aspect_ratio"]).size
    producer = image_to_video if mode is ClipMode.image else text_to_video
    image_ref = None
    if mode is ClipMode.image:
        first = {key.split("|")[-1]: value for key, value in shot_image.items()}.get(f"{segment}i0")
        if first is None:
            raise dg.Failure(f"segment {segment} needs its first image {segment}i0 first")
        image_ref = first.main

    def make(out_path):
        return producer.generate_clip(
            prompt,
            image=store.local_path(image_ref) if image_ref else None,
            style=ImageStyle(settings["image_style"]),
            width=width,
            height=height,
            duration_s=SEGMENT_SECONDS,
            seed=settings["seed"],
            out_path=out_path,
        )

    key = ("segment_clip", prompt, settings, image_ref.sha256 if image_ref else None)
    try:
        made = step.produce(producer, ".mp4", key=key, make=make)
    except Exception as error:
        if _retry_may_help(error) and context.retry_number < CLIP_RETRIES:
            raise
        # Seed 000: never silent. The stills stand in, and the record says why.
        message = str(error).strip().splitlines()[0][:500] if str(error).strip() else repr(error)
        context.log.warning(f"clip of {segment} failed, falling back to stills: {message}")
        info = SegmentClip(mode=mode, fallback="stills", error=message)
        return artifact_output(
            {"main": store.put_model(info)},
            extra={
                "mode": mode.value,
                FALLBACK: "stills",
                "error": message,
                "attempts": context.retry_number + 1,
            },
        )
    facts = probe(store.local_path(made.ref), count_frames=True)
    info = SegmentClip(
        mode=mode,
        frames=facts["nb_frames"] or 0,
        fps=facts["fps"] or 0.0,
        width=facts["width"] or 0,
        height=facts["height"] or 0,
    )
    return made.output(
        info=store.put_model(info),
        extra={
            "mode": mode.value,
            "prompt": prompt,
            "frames": info.frames,
            "fps": info.fps,
            "clip_size": f"{info.width}x{info.height}",
            "clip_seconds": round(info.frames / info.fps, 3) if info.fps else 0.0,
        },
    )
