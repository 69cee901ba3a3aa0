"""The inbox with the real Dagster daemon (and webserver) on loopback: dropped batch files are
built with no further command, a bad row is reported with its line and field while the good rows
are built, and dropping the same file again builds nothing and calls no provider."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from movie_assets.instance.local_stack import free_port
from tests.test_ui_automation import Dagster

THREE = """\
name: three
defaults: {duration_s: 10, images_per_segment: 1}
movies:
  - {prompt: How bees make honey, id: bees}
  - {prompt: How tides work, id: tides}
  - {prompt: Why leaves turn red, id: leaves}
"""
# Line 4 asks for 15 s, which is not a whole number of 10 s segments.
MIXED = """\
# name: mixed
id,prompt,duration_s,images_per_segment
rain,Where rain comes from,10,1
snow,How snowflakes form,15,1
wind,What makes wind,10,1
"""


pytestmark = pytest.mark.e2e  # the Dagster daemon


def drop(inbox: Path, name: str, text: str) -> None:
    """Write beside the inbox, then rename in: the sensor never sees half a file."""
    staging = inbox.parent / f".{name}"
    staging.write_text(text)
    os.replace(staging, inbox / name)


def sensor_ticks(server: Dagster) -> list[dict]:
    data = server.query(
        """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
             ... on Sensor { sensorState { status
               ticks(limit: 5) { timestamp status runIds } } } } }""",
        {
            "s": {
                "repositoryLocationName": "movie",
                "repositoryName": "__repository__",
                "sensorName": "batch_inbox",
            }
        },
    )
    return data["sensorOrError"]["sensorState"]["ticks"]


def report(instance: dg.DagsterInstance, home: Path, name: str) -> dict | None:
    from movie_assets.io_manager import latest_artifacts

    found = latest_artifacts(instance, dg.AssetKey("batch_report"), name)
    if found is None:
        return None
    path = Path(found.main.uri.removeprefix("file://"))
    assert path.is_relative_to(home)
    return json.loads(path.read_text())


def test_dropped_batch_files_are_built_by_the_daemon_once(tmp_path, monkeypatch):
    from movie_assets.orchestration.builder import prepare_instance
    from resources.storage.ledger import read_calls

    home = tmp_path / ".movie"
    monkeypatch.setenv("MOVIE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("MOVIE_BATCH_INTERVAL_S", "3")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MOVIE_LLM", "MOVIE_TTS", "MOVIE_IMAGES"):
        monkeypatch.delenv(name, raising=False)
    instance = prepare_instance()  # made once here, before two servers race to make it
    inbox = home / "batches" / "inbox"
    inbox.mkdir(parents=True)
    (home / "logs").mkdir()
    server = Dagster(home, free_port())
    try:
        drop(inbox, "three.yaml", THREE)
        drop(inbox, "mixed.csv", MIXED)
        deadline = time.time() + 900
        reports: dict[str, dict | None] = {"three": None, "mixed": None}
        while time.time() < deadline and not all(reports.values()):
            time.sleep(1)
            reports = {name: report(instance, home, name) for name in reports}
        if not all(reports.values()):
            log = (home / "logs" / "daemon.log").read_text()[-4000:]
            pytest.fail(f"the batches were not built in time: {reports}\n{log}")
        three, mixed = reports["three"], reports["mixed"]
        assert three and mixed

        assert [(m["movie_id"], m["status"]) for m in three["movies"]] == [
            ("bees", "built"),
            ("tides", "built"),
            ("leaves", "built"),
        ]
        assert [(m["movie_id"], m["status"]) for m in mixed["movies"]] == [
            ("rain", "built"),
            ("wind", "built"),
        ]
        assert [(r["line"], r["field"]) for r in mixed["rejected"]] == [(4, "duration_s")]
        for movie_id in ("bees", "tides", "leaves", "rain", "wind"):
            assert (home / "out" / f"{movie_id}.mp4").stat().st_size > 10_000, movie_id
        assert not (home / "out" / "snow.mp4").exists()
        # The report is the run's last step; the run's own success event follows it.
        deadline = time.time() + 60
        while True:
            runs = instance.get_runs(dg.RunsFilter(job_name="build_batch"))
            if all(r.is_finished for r in runs) or time.time() > deadline:
                break
            time.sleep(1)
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [
            r.status for r in runs
        ]

        # The same file again, under another name: nothing is queued, nothing is paid for.
        calls = len(read_calls())
        dropped_at = time.time()
        drop(inbox, "three-again.yaml", THREE)
        deadline = time.time() + 120
        while time.time() < deadline:
            ticks = [t for t in sensor_ticks(server) if t["timestamp"] > dropped_at + 1.5]
            if sum(t["status"] != "STARTED" for t in ticks) >= 2:
                break
            time.sleep(1)
        else:
            pytest.fail(f"the sensor did not tick after the file was dropped again: {ticks}")
        # Two finished ticks saw the file and requested no run.
        assert all(not t["runIds"] for t in ticks), ticks
        assert len(instance.get_runs(dg.RunsFilter(job_name="build_batch"))) == 2
        assert len(read_calls()) == calls
    finally:
        server.stop()
