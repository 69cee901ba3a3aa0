"""Quality gates (movie_assets/checks/quality.py) on real media made with ffmpeg: each gate passes
on a
good file and names what is wrong on a bad one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from movie_assets.checks.quality import caption_problems, final_video_problems, image_problems
from resources.domain.models import AssemblyStrategy, Timeline, TimelineClip, TimelineTrack
from resources.runtime.settings import ffmpeg_exe

TARGET_LUFS = -16.0


def _timeline(seconds: int, cue: tuple[float, float] = (1.0, 2.0)) -> Timeline:
    def clip(clip_id: str, start: float, length: float, **extra) -> TimelineClip:
        return TimelineClip(
            id=clip_id,
            start_frame=round(start * 30),
            duration_in_frames=round(length * 30),
            **extra,
        )

    return Timeline(
        id="t",
        title="t",
        width=1080,
        height=1920,
        duration_in_frames=seconds * 30,
        assembly=AssemblyStrategy("cut"),
        tracks=[
            TimelineTrack(id="video", kind="video", clips=[clip("s00", 0, seconds)]),
            TimelineTrack(id="narration", kind="audio", clips=[clip("v", 0.25, 3.0)]),
            TimelineTrack(id="music", kind="audio", clips=[clip("m", 0, seconds)]),
            TimelineTrack(
                id="captions", kind="captions", clips=[clip("c0", cue[0], cue[1] - cue[0])]
            ),
        ],
    )


def _video(path: Path, seconds: float, *, audio: bool = True, size: str = "1080x1920") -> Path:
    args = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi"]
    args += ["-i", f"testsrc=size={size}:rate=30:duration={seconds}"]
    if audio:  # a tone normalised to the target, so only what a test breaks can fail
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
        args += ["-af", f"loudnorm=I={TARGET_LUFS}:TP=-1.5:LRA=11", "-c:a", "aac", "-ar", "48000"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True)
    return path


@pytest.fixture(scope="module")
def good_video(tmp_path_factory) -> Path:
    return _video(tmp_path_factory.mktemp("v") / "good.mp4", 10)


def test_a_good_final_video_passes_every_gate(good_video):
    problems, metadata = final_video_problems(good_video, _timeline(10), TARGET_LUFS)
    assert problems == []
    assert metadata["duration_s"] == pytest.approx(10, abs=0.1)
    assert metadata["loudness_lufs"] == pytest.approx(TARGET_LUFS, abs=1)


def test_wrong_duration_size_and_missing_audio_are_named(tmp_path):
    short = _video(tmp_path / "short.mp4", 6, audio=False, size="720x1280")
    problems, _ = final_video_problems(short, _timeline(10), TARGET_LUFS)
    text = "; ".join(problems)
    assert "lasts 6.0 s, expected 10.00 s" in text
    assert "frame is 720x1280, expected 1080x1920" in text
    assert "no audio stream" in text


def test_loudness_off_target_fails(good_video):
    problems, metadata = final_video_problems(good_video, _timeline(10), TARGET_LUFS - 6)
    assert any(p.startswith("loudness") for p in problems), problems


def test_captions_must_be_shown_while_speech_plays():
    assert caption_problems(_timeline(10, cue=(0.3, 3.4))) == []
    late = caption_problems(_timeline(10, cue=(6.0, 7.0)))
    assert late and "c0 at 6.00-7.00 s" in late[0]


def test_shot_images_must_have_the_frame_size_and_not_be_blank(tmp_path):
    rng = np.random.default_rng(1)
    busy = tmp_path / "busy.png"
    Image.fromarray(rng.integers(0, 255, (1920, 1080, 3), dtype=np.uint8)).save(busy)
    assert image_problems(busy, (1080, 1920))[0] == []
    blank = tmp_path / "blank.png"
    Image.new("RGB", (1080, 1920), (20, 20, 20)).save(blank)
    assert any("blank" in p for p in image_problems(blank, (1080, 1920))[0])
    assert any("expected 1920x1080" in p for p in image_problems(busy, (1920, 1080))[0])
