"""Captions for the whole movie, the Remotion timeline, the final MP4 and its thumbnail."""

import dagster as dg

from movie_assets.assets.inputs import assembly_settings
from movie_assets.assets.previews import image_markdown
from movie_assets.assets.producer_steps import (
    Step,
    artifact_asset,
    artifact_output,
    producer_identity,
)
from movie_assets.io_manager import FAN_IN, Artifacts
from movie_assets.orchestration.delivery import deliver
from movie_assets.partitions import movie_partitions, same_movie
from resources.domain.models import (
    FPS,
    SEGMENT_SECONDS,
    SPEECH_LEAD_IN_S,
    AspectRatio,
    AssemblyStrategy,
    Script,
    SpeechTimings,
    Timeline,
    TimelineClip,
    TimelineTrack,
)
from resources.media.captions import cues_from_words, to_srt, to_webvtt
from resources.media.contact_sheet import (
    TILE_WIDTH,
    TILES_METHOD,
    shot_midpoints,
    shot_tiles,
    tile_images,
    tiles_of,
)
from resources.media.renderer import FfmpegRenderer
from resources.media.soundtrack import MIX_METHOD
from resources.producers.credits import credits_for
from resources.producers.images.generators import ImageGenerator
from resources.producers.speech.text_to_speech import TextToSpeech
from resources.producers.text.language_models import LanguageModel
from resources.storage.store import ArtifactRef, ArtifactStore, content_key

GROUP = "assembly"


def _planned(fan_in: dict[str, Artifacts], segments: int) -> list[Artifacts]:
    """The first `segments` slots, in order; slots outside the plan are ignored."""
    by_slot = {key.split("|")[-1]: value for key, value in fan_in.items()}
    wanted = [f"s{i:02d}" for i in range(segments)]
    missing = [s for s in wanted if s not in by_slot]
    if missing:
        raise dg.Failure(f"segments {missing} are not materialized yet")
    return [by_slot[s] for s in wanted]


def _fan_in(asset: str) -> dg.AssetIn:
    return dg.AssetIn(
        key=asset,
        partition_mapping=same_movie,
        input_manager_key="artifact_io",
        metadata={FAN_IN: True},
    )


@artifact_asset(
    partitions_def=movie_partitions,
    ins={"narration_audio": _fan_in("narration_audio")},
    deps=["movie_plan"],
    group_name=GROUP,
    description="Captions of the whole movie as SRT (main) and WebVTT, from the word timings.",
)
def captions(step: Step, narration_audio: dict[str, Artifacts]) -> dg.Output[Artifacts]:
    store = step.store
    request = step.inputs.request
    cues = []
    for index, audio in enumerate(_planned(narration_audio, request.segment_count)):
        timings = store.read_model(audio.files["timings"], SpeechTimings)
        offset = index * SEGMENT_SECONDS + SPEECH_LEAD_IN_S
        cues += cues_from_words(timings.words, offset_s=offset)
    srt = store.put_bytes(to_srt(cues).encode(), ".srt")
    vtt = store.put_bytes(to_webvtt(cues).encode(), ".vtt")
    return artifact_output({"main": srt, "webvtt": vtt}, extra={"cues": len(cues)})


def _clip(
    clip_id: str, ref: ArtifactRef, start_s: float, duration_s: float, **extra
) -> TimelineClip:
    return TimelineClip(
        id=clip_id,
        start_frame=round(start_s * FPS),
        duration_in_frames=max(1, round(duration_s * FPS)),
        src=ref.uri,
        sha256=ref.sha256,
        **extra,
    )


@artifact_asset(
    partitions_def=movie_partitions,
    ins={
        "segment_visual": _fan_in("segment_visual"),
        "narration_audio": _fan_in("narration_audio"),
        "music_track": None,
        "captions": None,
        "script": None,
    },
    deps=["assembly_input"],
    group_name=GROUP,
    description="Remotion-compatible timeline: tracks of clips, frame timings, artifact URIs.",
)
def timeline(
    step: Step,
    segment_visual: dict[str, Artifacts],
    narration_audio: dict[str, Artifacts],
    music_track: Artifacts,
    captions: Artifacts,
    script: Artifacts,
) -> dg.Output[Artifacts]:
    store = step.store
    settings = assembly_settings(step.inputs)
    segments = settings["duration_s"] // SEGMENT_SECONDS
    visuals = _planned(segment_visual, segments)
    voices = _planned(narration_audio, segments)
    width, height = AspectRatio(settings["aspect_ratio"]).size
    strategy = AssemblyStrategy(settings["assembly_strategy"])
    video_clips, voice_clips, caption_clips = [], [], []
    for index, (visual, voice) in enumerate(zip(visuals, voices, strict=True)):
        start = index * SEGMENT_SECONDS
        video_clips.append(
            _clip(f"s{index:02d}", visual.main, start, SEGMENT_SECONDS, transition=strategy.value)
        )
        timings = store.read_model(voice.files["timings"], SpeechTimings)
        voice_clips.append(
            _clip(
                f"s{index:02d}-voice",
                voice.main,
                start + SPEECH_LEAD_IN_S,
                timings.duration_s,
                volume=1.0,
            )
        )
        for n, cue in enumerate(cues_from_words(timings.words, offset_s=start + SPEECH_LEAD_IN_S)):
            caption_clips.append(
                TimelineClip(
                    id=f"s{index:02d}-cue{n}",
                    start_frame=round(cue.start_s * FPS),
                    duration_in_frames=max(1, round((cue.end_s - cue.start_s) * FPS)),
                    text=cue.text,
                )
            )
    total = segments * SEGMENT_SECONDS
    music_clip = _clip("music", music_track.main, 0, total, volume=0.35)
    built = Timeline(
        id=step.context.partition_key,
        title=store.read_model(script.main, Script).title,
        width=width,
        height=height,
        duration_in_frames=total * FPS,
        assembly=strategy,
        tracks=[
            TimelineTrack(id="video", kind="video", clips=video_clips),
            TimelineTrack(id="narration", kind="audio", clips=voice_clips),
            TimelineTrack(id="music", kind="audio", clips=[music_clip]),
            TimelineTrack(id="captions", kind="captions", clips=caption_clips),
        ],
    )
    ref = store.put_bytes(built.model_dump_json(by_alias=True, indent=2).encode(), ".json")
    return artifact_output(
        {"main": ref, "captions_srt": captions.main, "captions_vtt": captions.files["webvtt"]},
        extra={"duration_in_frames": built.duration_in_frames, "segments": segments},
    )


def _ref(clip: TimelineClip, suffix: str) -> ArtifactRef:
    return ArtifactRef(uri=clip.src or "", sha256=clip.sha256 or "", size=0, suffix=suffix)


def _contact_sheet(store: ArtifactStore, built: Timeline, shots: int) -> ArtifactRef:
    """One frame per shot, taken from the segment videos (the final video is their stream
    copy). Each segment's tiles are kept by the segment's hash, so a rebuild after an edit
    decodes only the segments that changed instead of the whole movie."""
    times = shot_midpoints(1, shots, SEGMENT_SECONDS)  # the same moments in every segment
    tiles = []
    for clip in built.track("video").clips:
        key = content_key(TILES_METHOD, clip.sha256, times, TILE_WIDTH, built.fps)
        strip = store.lookup(key)
        if strip is None:
            video = store.local_path(_ref(clip, ".mp4"))
            strip = store.make(
                ".png", lambda out, video=video: shot_tiles(video, times, out, fps=built.fps)
            )
            store.remember(key, strip)
        tiles += tiles_of(store.local_path(strip), len(times))
    return store.make(".jpg", lambda out: tile_images(tiles, out))


@artifact_asset(
    partitions_def=movie_partitions,
    ins={"timeline": None},
    group_name=GROUP,
    kinds={"ffmpeg"},
    description="The movie: segment videos joined without re-encoding, audio mixed and normalised.",
)
def final_video(
    step: Step,
    timeline: Artifacts,
    renderer: FfmpegRenderer,
    llm: LanguageModel,
    tts: TextToSpeech,
    images: ImageGenerator,
) -> dg.Output[Artifacts]:
    store = step.store
    built = Timeline.model_validate_json(store.local_path(timeline.main).read_bytes())
    videos = [store.local_path(_ref(c, ".mp4")) for c in built.track("video").clips]
    voices = [
        (store.local_path(_ref(c, ".wav")), c.start_frame / built.fps)
        for c in built.track("narration").clips
    ]
    music_clip = built.track("music").clips[0]
    music = store.local_path(_ref(music_clip, ".wav"))
    # The soundtrack depends only on the audio clips, so an edit to a picture reuses it.
    total_s = built.duration_in_frames / built.fps
    soundtrack_key = content_key(
        "soundtrack",
        [(c.sha256, c.start_frame) for c in built.track("narration").clips],
        music_clip.sha256,
        total_s,
        producer_identity(renderer),
        MIX_METHOD,  # a soundtrack mixed by an older method is mixed again
    )
    soundtrack = store.lookup(soundtrack_key)
    reused = soundtrack is not None
    if soundtrack is None:
        soundtrack = store.make(
            ".m4a",
            lambda out: renderer.mix_soundtrack(voices, music, duration_s=total_s, out_path=out),
        )
        store.remember(soundtrack_key, soundtrack)
    soundtrack_path = store.local_path(soundtrack)
    ref = store.make(".mp4", lambda out: renderer.join(videos, soundtrack_path, out_path=out))
    info = renderer.probe(store.local_path(ref))
    sheet = _contact_sheet(store, built, step.inputs.request.images_per_segment)
    # Delivery is part of this step, so a rebuild from the UI or a sensor is published too.
    published = deliver(store, ref, step.context.partition_key)
    return artifact_output(
        {"main": ref, "soundtrack": soundtrack, "contact_sheet": sheet},
        extra={
            "contact_sheet": image_markdown(sheet, "one frame per shot"),
            "published": dg.MetadataValue.path(str(published.path)),
            **({"published_object": published.uri} if published.uri else {}),
            "soundtrack_reused": reused,
            "duration_s": info.get("duration"),
            "video": f"{info.get('video_codec')} {info.get('width')}x{info.get('height')} "
            f"@ {info.get('fps')} fps",
            "audio": str(info.get("audio_codec")),
            "title": built.title,
            # Attributions the offline content asks for (OpenMoji CC BY-SA, WordNet, voices).
            "credits": "\n".join(credits_for(llm, tts, images)) or "none needed",
        },
    )


@artifact_asset(
    partitions_def=movie_partitions,
    ins={"final_video": None},
    group_name=GROUP,
    kinds={"ffmpeg"},
    description="A still from the movie for listings.",
)
def thumbnail(step: Step, final_video: Artifacts, renderer: FfmpegRenderer) -> dg.Output[Artifacts]:
    movie = step.store.local_path(final_video.main)
    ref = step.store.make(".jpg", lambda out: renderer.thumbnail(movie, at_s=1.5, out_path=out))
    return artifact_output({"main": ref})
