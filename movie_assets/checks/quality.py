"""Quality gates as Dagster asset checks, one per partition, run in the same run as the asset.

final_video: codec, frame size, fps, duration within 0.5 s of the plan, audio present, loudness
within 1 LU of the renderer's target, every caption inside its segment's speech. narration_audio:
the speech fits its segment. shot_image: the right size and not blank. A failed check is red in
the UI (asset graph, Checks tab) and in `movie status`.

Each check reads the latest materialization of its partition, so it also judges a rollback.
"""

import subprocess
import warnings
from pathlib import Path

import dagster as dg
import numpy as np

from movie_assets.io_manager import Artifacts, latest_artifacts
from movie_assets.orchestration.code_location import definitions
from movie_assets.partitions import (
    movie_key,
    movie_partitions,
    movie_segment_partitions,
    movie_shot_partitions,
)
from resources.domain.models import (
    FPS,
    SEGMENT_SECONDS,
    SPEECH_LEAD_IN_S,
    AspectRatio,
    SpeechTimings,
    Timeline,
)
from resources.media.captions import DEFAULT_HOLD_S
from resources.media.probe import probe
from resources.media.renderer import FfmpegRenderer
from resources.media.soundtrack import parse_ebur128_summary
from resources.runtime.settings import ffmpeg_exe
from resources.storage.projects import ProjectStoreResource
from resources.storage.store import ArtifactStore

# Partitioned checks are marked preview; they are what shows a result per partition.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

DURATION_TOLERANCE_S = 0.5
LOUDNESS_TOLERANCE_LU = 1.0
CAPTION_SLACK_S = 0.2  # a cue may overhang its speech by a frame or two of rounding
BLANK_STDDEV = 2.0  # an image whose pixels vary less than this (0..255) is blank


def _latest(context: dg.AssetCheckExecutionContext, asset: str) -> Artifacts:
    found = latest_artifacts(context.instance, dg.AssetKey(asset), context.partition_key)
    if found is None:
        raise dg.Failure(f"{asset} {context.partition_key} has not been materialized")
    return found


def _result(problems: list[str], metadata: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) if problems else "all gates passed",
        metadata=metadata,
    )


def integrated_loudness(path: Path) -> float | None:
    """Integrated loudness (LUFS) of a file's audio by ffmpeg's ebur128; None if silent."""
    done = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            "ebur128=framelog=quiet",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    )
    measured = parse_ebur128_summary(done.stderr)
    return float(measured["input_i"]) if measured else None


def caption_problems(timeline: Timeline) -> list[str]:
    """Caption cues out of sync with speech: each must start while its segment's narration
    speaks and leave the screen at most the reading hold after the speech ends."""
    windows = [
        (c.start_frame / timeline.fps, (c.start_frame + c.duration_in_frames) / timeline.fps)
        for c in timeline.track("narration").clips
    ]
    problems = []
    for cue in timeline.track("captions").clips:
        start = cue.start_frame / timeline.fps
        end = (cue.start_frame + cue.duration_in_frames) / timeline.fps
        in_sync = any(
            a - CAPTION_SLACK_S <= start <= b and end <= b + DEFAULT_HOLD_S + CAPTION_SLACK_S
            for a, b in windows
        )
        if not in_sync:
            problems.append(f"caption {cue.id} at {start:.2f}-{end:.2f} s is not during speech")
    return problems


def final_video_problems(
    video: Path, timeline: Timeline, target_lufs: float
) -> tuple[list[str], dict]:
    info = probe(video)
    expected_s = timeline.duration_in_frames / timeline.fps
    problems = []
    if info.get("video_codec") != "h264":
        problems.append(f"video codec is {info.get('video_codec')}, expected h264")
    if (info.get("width"), info.get("height")) != (timeline.width, timeline.height):
        problems.append(
            f"frame is {info.get('width')}x{info.get('height')}, "
            f"expected {timeline.width}x{timeline.height}"
        )
    if info.get("fps") is None or abs(float(info["fps"]) - FPS) > 0.01:
        problems.append(f"{info.get('fps')} fps, expected {FPS}")
    duration = info.get("duration")
    if duration is None or abs(duration - expected_s) > DURATION_TOLERANCE_S:
        problems.append(f"lasts {duration} s, expected {expected_s:.2f} s ± {DURATION_TOLERANCE_S}")
    loudness = integrated_loudness(video) if info.get("audio_codec") else None
    if not info.get("audio_codec"):
        problems.append("no audio stream")
    elif loudness is None:
        problems.append("the audio is silent")
    elif abs(loudness - target_lufs) > LOUDNESS_TOLERANCE_LU:
        problems.append(f"loudness {loudness:.1f} LUFS, target {target_lufs} ± 1 LU")
    captions = caption_problems(timeline)
    problems += captions[:5]
    return problems, {
        "duration_s": duration,
        "expected_duration_s": round(expected_s, 3),
        "loudness_lufs": loudness,
        "captions_outside_speech": len(captions),
    }


@dg.asset_check(
    asset="final_video",
    partitions_def=movie_partitions,
    description="h264, planned size, 30 fps, duration ±0.5 s, audio within 1 LU of the target, "
    "captions inside speech.",
)
def final_video_quality(
    context: dg.AssetCheckExecutionContext, store: ArtifactStore, renderer: FfmpegRenderer
) -> dg.AssetCheckResult:
    video = _latest(context, "final_video")
    timeline = store.read_model(_latest(context, "timeline").main, Timeline)
    problems, metadata = final_video_problems(
        store.local_path(video.main), timeline, renderer.loudness_lufs
    )
    return _result(problems, metadata | {"sha256": video.main.sha256})


@dg.asset_check(
    asset="narration_audio",
    partitions_def=movie_segment_partitions,
    description="The speech (after its lead-in) ends inside its 10 s segment.",
)
def narration_fits_segment(
    context: dg.AssetCheckExecutionContext, store: ArtifactStore
) -> dg.AssetCheckResult:
    audio = _latest(context, "narration_audio")
    timings = store.read_model(audio.files["timings"], SpeechTimings)
    ends = SPEECH_LEAD_IN_S + timings.duration_s
    problems = [] if ends <= SEGMENT_SECONDS else [f"speech ends at {ends:.2f} s of 10 s"]
    if not timings.words:
        problems.append("no words were spoken")
    return _result(problems, {"speech_ends_s": round(ends, 3), "words": len(timings.words)})


@dg.asset_check(
    asset="shot_image",
    partitions_def=movie_shot_partitions,
    description="The image has the movie's frame size and is not blank.",
)
def shot_image_quality(
    context: dg.AssetCheckExecutionContext, store: ArtifactStore, projects: ProjectStoreResource
) -> dg.AssetCheckResult:
    image = _latest(context, "shot_image")
    request = projects.store().load(movie_key(context.partition_key)).request
    problems, metadata = image_problems(
        store.local_path(image.main), AspectRatio(request.aspect_ratio).size
    )
    return _result(problems, metadata)


def image_problems(path: Path, expected: tuple[int, int]) -> tuple[list[str], dict]:
    from PIL import Image

    with Image.open(path) as picture:
        size = picture.size
        spread = float(np.asarray(picture.convert("L"), dtype=np.float32).std())
    problems = []
    if size != expected:
        problems.append(f"image is {size[0]}x{size[1]}, expected {expected[0]}x{expected[1]}")
    if spread < BLANK_STDDEV:
        problems.append(f"image is blank (pixel spread {spread:.2f})")
    return problems, {"width": size[0], "height": size[1], "pixel_spread": round(spread, 2)}


QUALITY_CHECKS = [final_video_quality, narration_fits_segment, shot_image_quality]


# check -> (asset, level job that runs it, level of its partitions)
_CHECK_PLACES = {
    "final_video_quality": ("final_video", "assemble", "movie"),
    "narration_fits_segment": ("narration_audio", "narrate", "segment"),
    "shot_image_quality": ("shot_image", "illustrate", "shot"),
}


def _check_partitions(movie_id: str):
    from movie_assets.partitions import planned_partitions
    from resources.storage.projects import ProjectStore

    request = ProjectStore().load(movie_id).request
    for name, (asset, job, level) in _CHECK_PLACES.items():
        key = dg.AssetCheckKey(dg.AssetKey(asset), name)
        for partition in planned_partitions(movie_id, request, level):
            yield key, job, partition


def check_status(instance: dg.DagsterInstance, movie_id: str) -> list[tuple[str, str, str, str]]:
    """(check, partition, status, description) of the latest evaluation of each planned
    partition's quality check; status is passed, failed, not run or the execution status."""
    from resources.runtime.dagster_private import PartitionKeyFilter

    rows = []
    for key, _, partition in _check_partitions(movie_id):
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [key], partition_filter=PartitionKeyFilter(key=str(partition))
        ).get(key)
        evaluation = latest.event.asset_check_evaluation if latest and latest.event else None
        if evaluation is not None:
            status = "passed" if evaluation.passed else "failed"
            description = evaluation.description or ""
        else:
            status = latest.status.value.lower() if latest else "not run"
            description = ""
        rows.append((key.name, str(partition), status, description))
    return rows


def run_quality_checks(instance: dg.DagsterInstance, movie_id: str) -> int:
    """Evaluate every quality check of a movie's planned partitions against their latest
    materializations (e.g. after a rollback); returns how many runs failed to execute."""
    defs = definitions()
    from movie_assets.instance.run_coordinator import (
        LEVEL_TAG,
        REPOSITORY_LABEL,
        record_code_location,
    )
    from movie_assets.orchestration.builder import QUIET_RUN_CONFIG
    from movie_assets.partitions import MOVIE_TAG

    broken = 0
    for key, job, partition in _check_partitions(movie_id):
        subset = defs.resolve_job_def(job).get_subset(
            asset_selection=set(), asset_check_selection={key}
        )
        result = subset.execute_in_process(
            partition_key=partition,
            instance=instance,
            run_config=QUIET_RUN_CONFIG,  # results go to the table below, not Dagster's log lines
            tags={**REPOSITORY_LABEL, MOVIE_TAG: movie_id, LEVEL_TAG: f"check {key.name}"},
            raise_on_error=False,
        )
        record_code_location(instance, result.run_id)
        broken += not result.success
    return broken
