"""Edit, regenerate only what changed, keep every revision: counted on the real offline providers.

Every provider call is appended to the ledger by the asset that made it, so the counts below are
what the providers were actually asked to do. Each test edits its own copy of one 6 x 2 movie.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from resources.runtime.settings import ffmpeg_exe
from tests.project_copy import copy_project
from tests.test_generate import movie_cli

MOVIE = "regen"
SEGMENTS, IMAGES = 6, 2


pytestmark = pytest.mark.e2e  # whole-movie builds and rebuilds


class Movie:
    def __init__(self, home: Path) -> None:
        self.home = home

    def use(self, monkeypatch: pytest.MonkeyPatch) -> Movie:
        """Point this process's ledger and instance reads at this project."""
        monkeypatch.setenv("MOVIE_HOME", str(self.home))
        monkeypatch.setenv("DAGSTER_HOME", str(self.home / "dagster"))
        return self

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        done = movie_cli(self.home, *args)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    def calls(self) -> list[dict]:
        from resources.storage.ledger import read_calls

        return read_calls(MOVIE)

    def materializations(self, asset: str) -> Counter:
        import dagster as dg

        instance = dg.DagsterInstance.from_config(str(self.home / "dagster"))
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=10_000).records
        return Counter(r.partition_key.split("|")[-1] for r in records)

    def frame(self, at_s: float) -> np.ndarray:
        return gray_frame(self.home / "out" / f"{MOVIE}.mp4", at_s, 108, 192)


def gray_frame(video: Path, at_s: float, width: int, height: int) -> np.ndarray:
    """One frame of `video` at `at_s`, scaled down to width x height, in grey (float)."""
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-ss",
            str(at_s),
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-vf",
            f"scale={width}:{height}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width).astype(np.float32)


GENERATE = ("generate", "The water cycle", "--duration", "60", "--images-per-segment", "2")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One 6 x 2 movie, built once; each test edits its own copy (no test sees another's edits)."""
    home = tmp_path_factory.mktemp("regen") / ".movie"
    Movie(home).cli(*GENERATE, "--id", MOVIE)
    return home


@pytest.fixture
def movie(built, tmp_path, monkeypatch) -> Movie:
    """This test's own copy of the built movie (tests/project_copy.py)."""
    return Movie(copy_project(built, tmp_path / ".movie")).use(monkeypatch)


def _new_calls(movie: Movie, before: int) -> Counter:
    return Counter(call["asset"] for call in movie.calls()[before:])


# Shot s03i1 is on screen in the second half of segment 3 (30..40 s).
SHOT_TIME_S = 37.0
STORM = ("edit", MOVIE, "--shot", "s03i1", "--image-prompt", "A storm cloud over the sea")


def _storm_edit(movie: Movie) -> tuple[np.ndarray, np.ndarray]:
    """Edit shot s03i1's prompt and regenerate; the frame showing it before and after."""
    original = movie.frame(SHOT_TIME_S)
    movie.cli(*STORM)
    movie.cli("regenerate", MOVIE)
    edited = movie.frame(SHOT_TIME_S)
    assert np.abs(edited - original).mean() > 5
    return original, edited


def test_edit_one_shot_prompt_redoes_one_image_and_one_segment(movie):
    original = movie.frame(SHOT_TIME_S)
    before = len(movie.calls())
    visuals_before = movie.materializations("segment_visual")
    timeline_before = movie.materializations("timeline")[MOVIE]
    movie.cli(*STORM)
    dry = movie.cli("regenerate", MOVIE, "--dry-run")
    assert "shot_image" in dry.stderr and "s03i1" in dry.stderr
    assert "narration_audio" not in dry.stderr
    movie.cli("regenerate", MOVIE)
    assert _new_calls(movie, before) == Counter({"shot_image": 1})
    assert movie.calls()[-1]["partition"] == f"{MOVIE}|s03i1"
    visuals_after = movie.materializations("segment_visual")
    assert visuals_after - visuals_before == Counter({"s03": 1})
    assert movie.materializations("timeline")[MOVIE] == timeline_before + 1
    assert np.abs(movie.frame(SHOT_TIME_S) - original).mean() > 5


def test_the_same_edit_again_costs_nothing(movie):
    _storm_edit(movie)
    before = len(movie.calls())
    again = movie.cli(*STORM)
    assert "no change" in again.stderr
    done = movie.cli("regenerate", MOVIE)
    assert "up to date" in done.stderr
    assert len(movie.calls()) == before


def test_rollback_of_one_shot_calls_no_provider_and_shows_the_earlier_image(movie):
    original, edited = _storm_edit(movie)
    before = len(movie.calls())
    movie.cli("rollback", MOVIE, "--asset", "shot_image", "--partition", "s03i1", "--revision", "1")
    assert len(movie.calls()) == before
    rolled = movie.frame(SHOT_TIME_S)
    assert np.abs(rolled - original).mean() < 2
    assert np.abs(rolled - edited).mean() > 5
    shown = movie.cli("history", MOVIE, "--asset", "shot_image", "--partition", "s03i1")
    assert "rollback to revision 1" in shown.stdout


def test_changing_the_voice_redoes_only_narration_audio(movie):
    before = len(movie.calls())
    captions_before = movie.materializations("captions")[MOVIE]
    final_before = movie.materializations("final_video")[MOVIE]
    movie.cli("edit", MOVIE, "--voice", "m3")
    movie.cli("regenerate", MOVIE)
    assert _new_calls(movie, before) == Counter({"narration_audio": SEGMENTS})
    assert movie.materializations("captions")[MOVIE] == captions_before + 1
    assert movie.materializations("final_video")[MOVIE] == final_before + 1


def test_longer_movie_generates_only_the_new_segments(movie):
    before = len(movie.calls())
    movie.cli("edit", MOVIE, "--duration", "90")
    movie.cli("regenerate", MOVIE)
    new = movie.calls()[before:]
    by_asset = Counter(call["asset"] for call in new)
    # The script call extends the script (earlier segments kept verbatim); the music is
    # re-composed because its length changed. Everything else is new segments only.
    assert by_asset == Counter(
        {"script": 1, "music_track": 1, "narration_audio": 3, "image_prompts": 3, "shot_image": 6}
    )
    for call in new:
        slot = call["partition"].split("|")[-1]
        if call["asset"] in ("narration_audio", "image_prompts", "shot_image"):
            assert slot[:3] in ("s06", "s07", "s08"), call
    from resources.media.probe import probe

    assert abs(probe(movie.home / "out" / f"{MOVIE}.mp4")["duration"] - 90) < 0.5


def test_generate_on_a_complete_unchanged_movie_calls_nothing(movie):
    before = len(movie.calls())
    done = movie.cli(*GENERATE, "--id", MOVIE)
    assert len(movie.calls()) == before
    assert done.stderr.count("up to date") == 5


def test_retry_after_a_partial_failure_redoes_only_what_failed(tmp_path, monkeypatch):
    """Images come from the real OpenAI client against the local stand-in, which refuses the
    second shot of every segment; generating again redoes only those shots and what follows."""
    from tests.openai_standin import OpenAIStandIn

    home = tmp_path / ".movie"
    with OpenAIStandIn() as api:
        api.fail_when = lambda path, body: (
            (400, "Your request was rejected by the safety system")
            if path.endswith("/images/generations") and "close-up" in body.get("prompt", "")
            else None
        )
        env = {"MOVIE_IMAGES": "openai", "MOVIE_LLM": "offline", "OPENAI_BASE_URL": api.base_url}
        args = ("generate", "Coral reefs", "--duration", "30", "--images-per-segment", "2",
                "--id", "retry")
        first = movie_cli(home, *args, extra_env=env)
        assert first.returncode == 1
        assert "safety system" in first.stderr
        assert "failed" in first.stderr
        assert not (home / "out" / "retry.mp4").exists()
        monkeypatch.setenv("MOVIE_HOME", str(home))
        from resources.storage.ledger import read_calls

        before = Counter(c["asset"] for c in read_calls("retry"))
        assert before["shot_image"] == 3  # the first shot of each segment succeeded
        image_requests = len([p for p in api.paths() if p.endswith("/images/generations")])

        api.fail_when = None
        second = movie_cli(home, *args, extra_env=env)
        assert second.returncode == 0, second.stderr[-3000:]
        after = Counter(c["asset"] for c in read_calls("retry"))
        assert after - before == Counter({"shot_image": 3})
        retried = [p for p in api.paths() if p.endswith("/images/generations")]
        assert len(retried) - image_requests == 3
        assert (home / "out" / "retry.mp4").exists()
