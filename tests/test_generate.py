"""End to end: `movie generate` on the offline default, checked the way a viewer would check it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from resources.domain.models import SEGMENT_SECONDS, SPEECH_LEAD_IN_S
from resources.media.probe import probe
from resources.runtime.settings import ffmpeg_exe
from tests.warm_cli import run_movie

DURATION = 30
IMAGES = 2
GENERATE_ARGS = (
    "generate",
    "How volcanoes erupt",
    "--duration",
    str(DURATION),
    "--images-per-segment",
    str(IMAGES),
    "--id",
    "volcanoes",
)


FULL_SIZE = {"MOVIE_RENDER_DIVISOR": ""}  # the real render size (tests/conftest.py: small_render)
SHORT_MOVIE = ("--duration", "20", "--images-per-segment", "1")  # two segments, a shot each


def movie_env(home: Path, extra_env: dict | None = None) -> dict[str, str]:
    """The environment of a `movie` command on project `home`, offline unless `extra_env` says."""
    env = {**os.environ, "MOVIE_HOME": str(home)}
    for name in (
        "DAGSTER_HOME",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "MOVIE_LLM",
        "MOVIE_TTS",
        "MOVIE_IMAGES",
    ):
        env.pop(name, None)
    return env | (extra_env or {})


def movie_cli(
    home: Path, *args: str, timeout: int = 900, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    """`movie ARGS` in its own process (forked from a warm one: tests/warm_cli.py)."""
    return run_movie(list(args), movie_env(home, extra_env), timeout)


def generated_movie(
    home: Path, prompt: str, movie_id: str, *options: str, extra_env: dict | None = None
) -> Path:
    """`movie generate PROMPT OPTIONS --id MOVIE_ID`, which must succeed; the file it published."""
    done = movie_cli(home, "generate", prompt, *options, "--id", movie_id, extra_env=extra_env)
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def movie_in_process(
    monkeypatch: pytest.MonkeyPatch, home: Path, *args: str, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    """`movie ARGS` through Click's CliRunner in this process, in movie_cli's environment: for
    refusals, which stop before any run (no subprocess start, no code location load)."""
    from click.testing import CliRunner

    from movie_assets.cli.main import main as movie_command

    monkeypatch.setenv("MOVIE_HOME", str(home))
    for name in set(os.environ) - set(env := movie_env(home, extra_env)):
        monkeypatch.delenv(name)
    for name, value in env.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    result = CliRunner().invoke(movie_command, list(args), prog_name="movie")
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    home = tmp_path_factory.mktemp("project") / ".movie"
    # The one movie of the suite rendered at the full 1080x1920 (tests/conftest.py: small_render).
    done = movie_cli(home, *GENERATE_ARGS, extra_env=FULL_SIZE)
    assert done.returncode == 0, done.stderr[-3000:]
    mp4 = Path(done.stdout.strip().splitlines()[-1])
    return home, mp4, done


def _decoded_audio(mp4: Path, rate: int = 16000) -> np.ndarray:
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(mp4),
            "-ac",
            "1",
            "-ar",
            str(rate),
            "-f",
            "s16le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768


def _envelope(samples: np.ndarray, rate: int = 16000, hop_s: float = 0.01) -> np.ndarray:
    hop = int(rate * hop_s)
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    return np.sqrt((frames**2).mean(axis=1))


def _srt_cues(text: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        start, end = (seconds(part.strip()) for part in lines[1].split("-->"))
        cues.append((start, end, " ".join(lines[2:])))
    return cues


@pytest.mark.e2e
def test_the_movie_is_what_was_asked_for(generated):
    _, mp4, _ = generated
    assert mp4.exists() and mp4.name == "volcanoes.mp4"
    info = probe(mp4)
    assert info["video_codec"] == "h264"
    assert (info["width"], info["height"]) == (1080, 1920)
    assert abs(info["fps"] - 30) < 0.01
    assert info["audio_codec"] == "aac"
    assert abs(info["duration"] - DURATION) <= 0.5


@pytest.mark.e2e
def test_speech_is_audible_in_every_segment_and_captions_follow_it(generated):
    home, mp4, _ = generated
    envelope = _envelope(_decoded_audio(mp4))
    srt = next((home / "artifacts").rglob("*.srt")).read_text()
    cues = _srt_cues(srt)
    for segment in range(DURATION // SEGMENT_SECONDS):
        start = segment * SEGMENT_SECONDS
        window = envelope[int(start * 100) : int((start + SEGMENT_SECONDS) * 100)]
        lead_in = window[: int(SPEECH_LEAD_IN_S * 100) - 5]  # music only, before the voice
        speaking = window[int(SPEECH_LEAD_IN_S * 100) : int(8 * 100)]
        assert np.percentile(speaking, 75) > 3 * np.median(lead_in) + 1e-4, (
            f"no audible speech in segment {segment}"
        )
        # The first caption of the segment starts where the voice starts (within 0.3 s).
        threshold = 0.25 * np.percentile(speaking, 90)
        onset = start + (np.argmax(window > threshold)) / 100
        first_cue = min(c for c in cues if start <= c[0] < start + SEGMENT_SECONDS)
        assert abs(first_cue[0] - onset) <= 0.3, (segment, first_cue, onset)
    # Every cue sits on voiced audio: speech is present at its start.
    for cue_start, _, text in cues:
        frames = envelope[int(cue_start * 100) : int(cue_start * 100) + 30]
        assert frames.max() > 0.1 * envelope.max(), f"cue {text!r} at {cue_start} is silent"


@pytest.mark.e2e
def test_every_planned_partition_is_materialized_and_no_other(generated, monkeypatch):
    home, _, _ = generated
    monkeypatch.setenv("MOVIE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    movie_level = [
        "research",
        "script",
        "music_prompt",
        "music_track",
        "captions",
        "timeline",
        "final_video",
        "thumbnail",
    ]
    segment_level = ["segment_narration", "narration_audio", "image_prompts", "segment_visual"]
    segments = {f"volcanoes|s{i:02d}" for i in range(DURATION // SEGMENT_SECONDS)}
    shots = {
        f"volcanoes|s{s:02d}i{i}" for s in range(DURATION // SEGMENT_SECONDS) for i in range(IMAGES)
    }
    for asset in movie_level:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {"volcanoes"}, asset
    for asset in segment_level:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == segments, asset
    assert instance.get_materialized_partitions(dg.AssetKey("shot_image")) == shots
    record = instance.fetch_materializations(dg.AssetKey("shot_image"), limit=1).records[0]
    metadata = record.asset_materialization.metadata
    for field in ("uri", "sha256", "provider", "model", "seed", "estimated_cost_usd"):
        assert field in metadata, field
    assert record.asset_materialization.tags["dagster/data_version"]


@pytest.mark.e2e
def test_provider_calls_match_the_plan_exactly(generated, monkeypatch):
    home, _, _ = generated
    monkeypatch.setenv("MOVIE_HOME", str(home))
    from resources.storage.ledger import read_calls

    calls = read_calls("volcanoes")
    by_asset: dict[str, int] = {}
    for call in calls:
        by_asset[call["asset"]] = by_asset.get(call["asset"], 0) + 1
        slot = call["partition"].split("|")[-1]
        if re.fullmatch(r"s\d\d.*", slot):
            assert int(slot[1:3]) < DURATION // SEGMENT_SECONDS, f"call outside the plan: {call}"
    segments = DURATION // SEGMENT_SECONDS
    assert by_asset == {
        "research": 1,
        "script": 1,
        "music_prompt": 1,
        "music_track": 1,
        "narration_audio": segments,
        "image_prompts": segments,
        "shot_image": segments * IMAGES,
    }


@pytest.mark.e2e
def test_generating_again_calls_no_provider(generated, monkeypatch):
    home, mp4, _ = generated
    from resources.storage.ledger import read_calls

    monkeypatch.setenv("MOVIE_HOME", str(home))
    before = len(read_calls("volcanoes"))
    again = movie_cli(home, *GENERATE_ARGS, extra_env=FULL_SIZE)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "up to date" in again.stderr
    assert len(read_calls("volcanoes")) == before
    assert Path(again.stdout.strip().splitlines()[-1]) == mp4


@pytest.mark.e2e
def test_status_and_list(generated):
    home, _, _ = generated
    shown = movie_cli(home, "status", "volcanoes", extra_env=FULL_SIZE)
    assert shown.returncode == 0, shown.stderr
    assert "final_video" in shown.stderr and "provider calls: 16" in shown.stderr
    listed = movie_cli(home, "list")
    assert "volcanoes" in listed.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--duration", "35"], "duration_s"),
        (["--duration", "0"], "duration_s"),
        (["--duration", "400"], "duration_s"),
        (["--images-per-segment", "9"], "images_per_segment"),
        (["--language", "xx"], "--language"),
        (["--video", "--blueprint", "image"], "use_video"),
        (["--blueprint", "slideshow"], "--blueprint"),
    ],
)
def test_refused_requests_name_the_field_and_write_nothing(tmp_path, monkeypatch, args, field):
    home = tmp_path / ".movie"
    done = movie_in_process(monkeypatch, home, "generate", "Volcanoes", *args)
    assert done.returncode != 0
    assert field in done.stderr
    assert not (home / "movies").exists()


def test_empty_prompt_is_refused(tmp_path):
    home = tmp_path / ".movie"
    done = movie_cli(home, "generate", "  ")
    assert done.returncode != 0
    assert "prompt" in done.stderr and "empty" in done.stderr
    assert not (home / "movies").exists()


def test_definitions_validate():
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-m",
            "movie_assets.definitions",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Loading the code location must not pull in the GPU stack.
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, movie_assets.definitions; "
            "print(any(m in sys.modules for m in ('torch', 'diffusers')))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.stdout.strip() == "False", check.stderr
