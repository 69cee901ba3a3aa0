"""The UI path: a real webserver and daemon on loopback. An edit makes exactly its dependent
partitions stale (read through the GraphQL API), and the opt-in automation policy rebuilds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from movie_assets.instance.local_stack import free_port
from tests.test_generate import SHORT_MOVIE, generated_movie, movie_cli

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MOVIE = "ui"


pytestmark = pytest.mark.e2e  # the Dagster webserver and daemon


SENSOR = {
    "repositoryLocationName": "movie",
    "repositoryName": "__repository__",
    "sensorName": "regenerate_stale_partitions",
}


class Dagster:
    def __init__(self, home: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"
        env = {
            **os.environ,
            "MOVIE_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "MOVIE_AUTOMATION_INTERVAL_S": "5",
        }
        env.pop("OPENAI_API_KEY", None)
        logs = home / "logs"
        logs.mkdir(exist_ok=True)
        workspace = str(REPO / "workspace.yaml")
        self.processes = [
            subprocess.Popen(
                [
                    str(BIN / "dagster-webserver"),
                    "-w",
                    workspace,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ],
                cwd=REPO,
                env=env,
                stdout=open(logs / "web.log", "w"),
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", workspace],
                cwd=REPO,
                env=env,
                stdout=open(logs / "daemon.log", "w"),
                stderr=subprocess.STDOUT,
            ),
        ]
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if self.query("{ version }")["version"]:
                    return
            except OSError:
                time.sleep(1)
        raise RuntimeError("webserver did not come up: " + (logs / "web.log").read_text()[-2000:])

    def query(self, text: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, body, {"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def stale(self, asset: str, partitions: list[str]) -> dict[str, str]:
        data = self.query(
            """query($key: AssetKeyInput!, $parts: [String!]) {
                 assetNodeOrError(assetKey: $key) {
                   ... on AssetNode { staleStatusByPartition(partitions: $parts) } } }""",
            {"key": {"path": [asset]}, "parts": partitions},
        )
        return dict(
            zip(partitions, data["assetNodeOrError"]["staleStatusByPartition"], strict=True)
        )

    def sensor_ticks(self, selector: dict, *statuses: str) -> list[dict]:
        """The sensor's recent ticks that have one of `statuses` (all when none is given)."""
        data = self.query(
            """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
                 ... on Sensor { sensorState { ticks(limit: 10) { status timestamp } } } } }""",
            {"s": selector},
        )
        ticks = data["sensorOrError"]["sensorState"]["ticks"]
        return [t for t in ticks if not statuses or t["status"] in statuses]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui") / ".movie"
    generated_movie(home, "Bees and flowers", MOVIE, *SHORT_MOVIE)
    server = Dagster(home, free_port())
    try:
        yield home, server
    finally:
        server.stop()


def test_an_edit_makes_exactly_its_dependents_stale_and_automation_rebuilds_them(ui, monkeypatch):
    home, server = ui
    segments = [f"{MOVIE}|s00", f"{MOVIE}|s01"]
    shots = [f"{MOVIE}|s00i0", f"{MOVIE}|s01i0"]
    assert set(server.stale("shot_image", shots).values()) == {"FRESH"}

    # Opt in first: the policy reacts to changes it sees happen (like Dagster's eager policy);
    # edits made while it is off are rebuilt by `movie regenerate` or from the UI.
    started = server.query(
        """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
             __typename ... on PythonError { message } } }""",
        {"s": SENSOR},
    )
    assert started["startSensor"]["__typename"] == "Sensor", started

    # The sensor's first finished tick records its starting point; edits come after it.
    deadline = time.time() + 120
    while not server.sensor_ticks(SENSOR, "SUCCESS", "SKIPPED"):
        assert time.time() < deadline, "the automation sensor never ticked"
        time.sleep(0.5)

    monkeypatch.setenv("MOVIE_HOME", str(home))
    from resources.storage.ledger import read_calls

    calls_before = len(read_calls(MOVIE))
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    final_before = len(instance.fetch_materializations(dg.AssetKey("final_video"), 100).records)

    edited = movie_cli(
        home, "edit", MOVIE, "--shot", "s01i0", "--image-prompt", "A bee on a sunflower, macro"
    )
    assert edited.returncode == 0, edited.stderr
    assert server.stale("shot_image", shots) == {shots[0]: "FRESH", shots[1]: "STALE"}
    for asset in ("segment_narration", "narration_audio", "image_prompts"):
        assert set(server.stale(asset, segments).values()) == {"FRESH"}, asset
    for asset in ("research", "script", "music_track"):
        assert server.stale(asset, [MOVIE]) == {MOVIE: "FRESH"}, asset
    causes = server.query(
        """query($key: AssetKeyInput!, $p: String) { assetNodeOrError(assetKey: $key) {
             ... on AssetNode { staleCauses(partition: $p) { key { path } reason } } } }""",
        {"key": {"path": ["shot_image"]}, "p": shots[1]},
    )["assetNodeOrError"]["staleCauses"]
    assert any(c["key"]["path"] == ["shot_input"] for c in causes), causes

    deadline = time.time() + 420
    while time.time() < deadline:
        finals = instance.fetch_materializations(dg.AssetKey("final_video"), 100).records
        if len(finals) > final_before:
            break
        time.sleep(3)
    else:
        log = (home / "logs" / "daemon.log").read_text()[-3000:]
        pytest.fail(f"automation did not rebuild the final video in time:\n{log}")

    new_calls = Counter(c["asset"] for c in read_calls(MOVIE)[calls_before:])
    assert new_calls == Counter({"shot_image": 1})
    assert set(server.stale("shot_image", shots).values()) == {"FRESH"}
    assert set(server.stale("segment_visual", segments).values()) == {"FRESH"}
    # Nothing ran for slots outside the plan.
    runs = instance.get_runs()
    for run in runs:
        partition = run.tags.get("dagster/partition", "")
        slot = partition.split("|")[-1]
        if slot.startswith("s"):
            assert int(slot[1:3]) < 2, f"run for a slot outside the plan: {partition}"
            if "i" in slot:
                assert slot.endswith("i0"), f"run for a shot outside the plan: {partition}"
