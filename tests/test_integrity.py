"""What is built can be trusted: damaged artifacts are found and repaired to the same movie,
concurrent edits are never lost, and a torn ledger line breaks nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resources.domain.models import MovieRequest
from resources.runtime.settings import ffmpeg_exe
from resources.storage.projects import MovieInputs, ProjectStore
from tests.project_copy import copy_project
from tests.test_generate import movie_cli, movie_env
from tests.warm_cli import spawn_movie

pytestmark = pytest.mark.timeout(900)


def _decoded_md5(mp4: Path) -> tuple[str, str]:
    """MD5 of the decoded pictures and of the decoded sound (container bytes may differ)."""

    def md5(*select: str) -> str:
        out = subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-i", str(mp4), *select, "-f", "md5", "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return out.strip()

    return md5("-map", "0:v"), md5("-map", "0:a")


def _ledger(home: Path) -> list[str]:
    path = home / "ledger.jsonl"
    return path.read_text().splitlines() if path.exists() else []


def _blob(home: Path, asset: str, partition: str) -> Path:
    """The stored file of a partition's latest materialization, read as a user would find it."""
    script = (
        "import sys, dagster as dg\n"
        "from movie_assets.orchestration.builder import prepare_instance\n"
        "from movie_assets.io_manager import latest_artifacts\n"
        "found = latest_artifacts(prepare_instance(), dg.AssetKey(sys.argv[1]), sys.argv[2])\n"
        "print(found.main.uri.removeprefix('file://'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, asset, partition],
        env=movie_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    stored = Path(done.stdout.strip())  # .../artifacts/sha256/<2 hex>/<sha256>.<suffix>
    # A copied project's records still name the folder it was built in: the same blob, by hash,
    # is under this project's own artifacts.
    blob = home / "artifacts" / "sha256" / stored.parent.name / stored.name
    assert blob.is_file(), (stored, blob)
    return blob


def _flip(path: Path, start: int, count: int = 256) -> None:
    data = bytearray(path.read_bytes())
    for i in range(start, min(start + count, len(data))):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def built_once(tmp_path_factory):
    home = tmp_path_factory.mktemp("integrity") / ".movie"
    done = movie_cli(
        home, "generate", "How bees dance", "--duration", "20", "--images-per-segment", "1",
        "--id", "bees",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    mp4 = Path(done.stdout.strip().splitlines()[-1])
    original = home.parent / "undamaged.mp4"
    shutil.copyfile(mp4, original)
    return home, mp4, _decoded_md5(original)


@pytest.fixture
def built(built_once, tmp_path):
    """This test's own copy of the built movie (tests/project_copy.py): damage stays here."""
    home, mp4, undamaged = built_once
    copy = copy_project(home, tmp_path / ".movie")
    return copy, copy / mp4.relative_to(home), undamaged


@pytest.mark.e2e
def test_damaged_artifacts_are_found_and_repaired_to_the_same_movie(built):
    home, mp4, undamaged = built
    # Flipped bytes inside a narration WAV: status sees it before any build can use it.
    _flip(_blob(home, "narration_audio", "bees|s01"), 4000)
    shown = movie_cli(home, "status", "bees", extra_env={"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    row = next(line for line in shown.stderr.splitlines() if "narration_audio" in line)
    assert row.split("│")[-2].strip() == "1", row  # the damaged column
    assert "movie verify bees --repair" in shown.stderr
    planned = movie_cli(home, "regenerate", "bees", "--dry-run", extra_env={"COLUMNS": "200"})
    assert "artifact main missing" in planned.stderr, planned.stderr[-2000:]
    assert list((home / "artifacts" / "quarantine").iterdir())  # kept, never deleted

    # `regenerate` repairs it at the cost of exactly that partition's provider call.
    calls = len(_ledger(home))
    repaired = movie_cli(home, "regenerate", "bees")
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    new = [json.loads(line) for line in _ledger(home)[calls:]]
    assert [(c["asset"], c["partition"]) for c in new] == [("narration_audio", "bees|s01")]
    assert _decoded_md5(mp4) == undamaged

    # A deleted image and a corrupt final video: `verify` lists both, `--repair` fixes both.
    _blob(home, "shot_image", "bees|s00i0").unlink()
    _flip(_blob(home, "final_video", "bees"), 30000)
    found = movie_cli(home, "verify", "bees", extra_env={"COLUMNS": "200"})
    assert found.returncode == 1, found.stderr[-2000:]
    damaged = [line for line in found.stderr.splitlines() if "│ bees" in line]
    assert len(damaged) == 2, found.stderr
    assert any("shot_image" in d and "missing" in d for d in damaged)
    assert any("final_video" in d and "corrupt" in d for d in damaged)
    fixed = movie_cli(home, "verify", "--repair")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert _decoded_md5(mp4) == undamaged
    again = movie_cli(home, "verify", "bees")
    assert again.returncode == 0 and "every artifact is intact" in again.stderr, again.stderr


@pytest.mark.e2e
def test_a_torn_ledger_line_breaks_nothing_and_the_next_record_parses(built):
    home, _, _ = built
    ledger = home / "ledger.jsonl"
    whole = len(_ledger(home))
    with open(ledger, "a") as handle:
        handle.write('{"time": 1.0, "movie": "bees", "asset": "shot_ima')  # a crash mid-write
    shown = movie_cli(home, "status", "bees")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert f"ledger.jsonl line {whole + 1} is torn" in shown.stderr
    assert f"provider calls: {whole}," in shown.stderr
    planned = movie_cli(home, "regenerate", "bees", "--dry-run")
    assert planned.returncode == 0, planned.stderr[-2000:]

    edited = movie_cli(home, "edit", "bees", "--shot", "s01i0", "--image-prompt", "a red flower")
    assert edited.returncode == 0, edited.stderr[-2000:]
    rebuilt = movie_cli(home, "regenerate", "bees")
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    lines = _ledger(home)
    assert lines[whole].startswith('{"time": 1.0') and len(lines) == whole + 2
    record = json.loads(lines[-1])  # the next record starts on a line of its own
    assert (record["asset"], record["partition"]) == ("shot_image", "bees|s01i0")


def _new_movie(home: Path) -> None:
    request = MovieRequest(prompt="How tides move", duration_s=20, images_per_segment=1)
    ProjectStore(home / "movies").save(MovieInputs(movie_id="tides", request=request), "created")


def _edit(home: Path, *args: str):
    return spawn_movie(["edit", "tides", *args], movie_env(home))


@pytest.mark.e2e
def test_two_edits_at_once_both_land(tmp_path):
    home = tmp_path / ".movie"
    _new_movie(home)
    for round_ in range(3):
        both = [
            _edit(home, "--music-prompt", f"slow strings {round_}"),
            _edit(home, "--shot", "s01i0", "--image-prompt", f"a wave at dusk {round_}"),
        ]
        for proc in both:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0 and "recorded:" in err, err[-2000:]
        inputs = ProjectStore(home / "movies").load("tides")
        assert inputs.request.music_prompt == f"slow strings {round_}"
        assert inputs.shots["s01i0"].image_prompt == f"a wave at dusk {round_}"
    assert len(ProjectStore(home / "movies").edits("tides")) == 1 + 2 * 3


def test_two_edits_of_one_field_the_later_wins_and_both_are_history(tmp_path):
    home = tmp_path / ".movie"
    _new_movie(home)
    both = [_edit(home, "--music-prompt", "harp"), _edit(home, "--music-prompt", "drums")]
    for proc in both:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    store = ProjectStore(home / "movies")
    history = [edit["change"] for edit in store.edits("tides")[1:]]
    assert sorted(history) == ["music_prompt='drums'", "music_prompt='harp'"]
    assert f"music_prompt={store.load('tides').request.music_prompt!r}" == history[-1]


def test_a_huge_document_is_refused_by_its_size_without_being_read(tmp_path, monkeypatch):
    from resources.domain.errors import InvalidInput
    from resources.storage.projects import document_digest

    monkeypatch.setenv("MOVIE_MAX_DOCUMENT_MB", "1")
    small = tmp_path / "notes.md"
    small.write_text("bees dance to say where the flowers are")
    huge = tmp_path / "dump.txt"
    with open(huge, "wb") as handle:  # sparse: 4 GB on paper, nothing on disk
        handle.truncate(4 << 30)
    assert document_digest([str(small)]) == document_digest([str(small)])
    with pytest.raises(InvalidInput, match=r"documents: .*dump.txt.* larger than 1 MB"):
        document_digest([str(small), str(huge)])
