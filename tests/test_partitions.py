"""The slot dimensions: every slot where runs execute, the planned ones where the UI looks.

The code server behind the UI (MOVIE_SLOTS=planned) loads the definitions with only the slots some
movie plans; a run it starts (a multiprocessing child) keeps every slot, because it may plan a
movie created after it loaded (a batch run does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from movie_assets.partitions import planned_slots
from resources.domain.models import MovieRequest
from resources.storage.projects import MovieInputs, ProjectStore

ROOT = Path(__file__).resolve().parent.parent

# Prints the slots this process's definitions use, then those of a run-like spawned child.
PROBE = """
import json, multiprocessing

def slots(queue):
    from movie_assets.definitions import defs
    shots = defs.get_assets_def("shot_image").partitions_def
    segments = defs.get_assets_def("segment_visual").partitions_def
    queue.put([
        shots.get_partitions_def_for_dimension("shot").get_partition_keys(),
        segments.get_partitions_def_for_dimension("segment").get_partition_keys(),
    ])

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    slots(queue)
    child = context.Process(target=slots, args=(queue,))
    child.start()
    print(json.dumps({"server": queue.get(), "run": queue.get()}))
    child.join()
"""


def _movie(store: ProjectStore, movie_id: str, duration_s: int, images: int) -> None:
    request = MovieRequest(prompt="Bees", duration_s=duration_s, images_per_segment=images)
    (store.root / movie_id).mkdir(parents=True, exist_ok=True)
    store.save(MovieInputs(movie_id=movie_id, request=request), "created")


def test_planned_slots_are_the_union_of_the_movies_plans(tmp_path):
    store = ProjectStore(tmp_path / "movies")
    assert planned_slots(store) == ([], [])
    _movie(store, "short", 20, 1)
    _movie(store, "wide", 30, 2)
    broken = store.root / "broken"
    broken.mkdir()
    (broken / "inputs.json").write_text("{not json")  # plans nothing, breaks nothing
    segments, shots = planned_slots(store)
    assert segments == ["s00", "s01", "s02"]
    assert shots == ["s00i0", "s00i1", "s01i0", "s01i1", "s02i0", "s02i1"]


def _probe(home: Path, slots: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MOVIE_HOME": str(home), "MOVIE_SLOTS": slots}
    script = home.parent / "probe.py"  # a file: spawned children re-import the main module
    script.write_text(PROBE)
    return subprocess.run(
        [sys.executable, str(script)],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.e2e
def test_the_code_server_describes_planned_slots_and_its_runs_keep_all(tmp_path):
    home = tmp_path / ".movie"
    _movie(ProjectStore(home / "movies"), "short", 20, 1)
    done = _probe(home, "planned")
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["server"] == [["s00i0", "s01i0"], ["s00", "s01"]]
    run_shots, run_segments = seen["run"]
    assert len(run_shots) == 150 and len(run_segments) == 30

    everywhere = json.loads(_probe(home, "all").stdout)
    assert len(everywhere["server"][0]) == 150


def test_a_wrong_slots_setting_names_the_variable(tmp_path):
    done = _probe(tmp_path / ".movie", "some")
    assert done.returncode != 0
    assert "MOVIE_SLOTS must be 'all' or 'planned', got 'some'" in done.stderr
