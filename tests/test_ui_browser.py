"""The UI as a user sees it: Debian's chromium driven by Playwright against `movie ui`.

The partition grid holds the slots the movie plans and grows when an edit plans more; after a
shot edit the whole chain to rebuild is flagged at once; the rebuild is launched from the
browser in 3 clicks, costs one image call and the published file shows the new image; previews
load; a failing quality check shows in the UI and in `movie status`. Screenshots go to
MOVIE_SCREENSHOTS (default: the test's tmp folder)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from resources.settings import ffmpeg_exe
from tests.test_generate import movie_cli
from tests.test_regenerate import gray_frame
from tests.test_ui_automation import _free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MOVIE = "bees"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")


def _image(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture.convert("L").resize((54, 96)), dtype=np.float32)


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser") / ".movie"
    shots = Path(os.environ.get("MOVIE_SCREENSHOTS", str(home.parent / "screenshots")))
    shots.mkdir(parents=True, exist_ok=True)
    preview = f"http://127.0.0.1:{_free_port()}"
    extra = {"MOVIE_PREVIEW_URL": preview}
    done = movie_cli(
        home,
        "generate",
        "Bees and flowers",
        "--duration",
        "20",
        "--images-per-segment",
        "1",
        "--id",
        MOVIE,
        extra_env=extra,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    port = _free_port()
    env = {**os.environ, "MOVIE_HOME": str(home), **extra}
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    log = open(home.parent / "ui.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "movie_assets.cli", "ui", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            body = json.dumps(
                {
                    "query": "{ workspaceOrError { ... on Workspace { "
                    "locationEntries { name loadStatus } } } }"
                }
            ).encode()
            request = urllib.request.Request(
                base + "/graphql", body, {"content-type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                entries = json.loads(response.read())["data"]["workspaceOrError"]
            if entries["locationEntries"][0]["loadStatus"] == "LOADED":
                break
        except (OSError, KeyError, IndexError, TypeError):
            pass
        time.sleep(2)
    else:
        pytest.fail("movie ui did not come up: " + (home.parent / "ui.log").read_text()[-2000:])
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base + "/assets")
        try:  # Dagster's one-time newsletter dialog: dismiss it before working
            page.get_by_role("button", name="Skip").click(timeout=30000)
        except PlaywrightTimeout:
            pass
        try:
            yield home, base, page, shots, env
        finally:
            browser.close()
            os.killpg(server.pid, signal.SIGTERM)  # movie ui and the dagster dev it started
            try:
                server.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


RUN_IDS = (
    "query($filter: RunsFilter) { runsOrError(filter: $filter) "
    "{ ... on Runs { results { runId } } } }"
)


RUN_ORIGINS = (
    "query($filter: RunsFilter) { runsOrError(filter: $filter) "
    "{ ... on Runs { results { runId repositoryOrigin { repositoryLocationName } } } } }"
)


def _runs(base: str, query: str, **variables) -> list[dict]:
    """The runs a runs query returns (the same GraphQL the UI's pages send)."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(base + "/graphql", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        data = json.loads(response.read())
    assert "errors" not in data, data
    return data["data"]["runsOrError"]["results"]


def _graphql(base: str, query: str, **variables) -> list[str]:
    return sorted(r["runId"] for r in _runs(base, query, **variables))


def _open(page, url: str, expect: str, timeout_s: float = 60, select: str = "") -> str:
    """Go to `url` (selecting the check named `select` on a Checks tab) until `expect` shows."""
    page.goto(url)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        skip = page.get_by_role("button", name="Skip")  # Dagster's one-time newsletter nag
        if skip.count():
            skip.first.click()
        if select and page.get_by_text(select, exact=True).count():
            try:
                page.get_by_text(select, exact=True).first.click(timeout=3000)
            except PlaywrightTimeout:  # a dialog opened over it: dismissed on the next turn
                continue
        text = page.inner_text("body")
        if re.search(expect, text):
            return text
        time.sleep(1)
    raise AssertionError(f"{url} never showed {expect!r}:\n{page.inner_text('body')[:3000]}")


def test_edit_rebuild_preview_and_failing_check_in_the_browser(ui):
    home, base, page, shots, env = ui
    os.environ["MOVIE_HOME"] = str(home)
    from resources.ledger import read_calls

    calls_before = len(read_calls(MOVIE))
    runs_before = _graphql(base, RUN_IDS, filter={})

    # Honest partitions: the grid holds the slots the movie plans (20 s x 1 image), nothing else.
    grid = _open(page, f"{base}/assets/shot_image?view=partitions", r"Missing \(0\)")
    assert "Materialized (2)" in grid and "s01i0" in grid, grid[:2000]
    assert not {"s00i1", "s02i0", "s29i4"} & set(grid.split()), grid[:2000]
    page.screenshot(path=str(shots / "shot_partitions.png"))
    edited = movie_cli(
        home,
        "edit",
        MOVIE,
        "--shot",
        "s01i0",
        "--image-prompt",
        "A red tractor in a wide green field",
        extra_env={"MOVIE_PREVIEW_URL": env["MOVIE_PREVIEW_URL"]},
    )
    assert edited.returncode == 0, edited.stderr
    # The edit's input observations are recorded without runs: the runs list is unchanged.
    assert _graphql(base, RUN_IDS, filter={}) == runs_before

    # Stale before anything is rebuilt: the whole chain, each with its partition.
    for asset, partition in (
        ("shot_image", f"{MOVIE}|s01i0"),
        ("segment_visual", f"{MOVIE}|s01"),
        ("timeline", MOVIE),
        ("final_video", MOVIE),
    ):
        text = _open(
            page, f"{base}/assets/{asset}?view=checks", r"will be rebuilt", select="up_to_date"
        )
        assert "up_to_date" in text and partition in text, (asset, text[:2000])
    page.screenshot(path=str(shots / "final_video_stale.png"))
    _open(page, f"{base}/asset-groups/assembly", r"Global asset lineage")
    time.sleep(8)  # the graph is drawn after the page text
    page.screenshot(path=str(shots / "asset_graph.png"))

    # The rebuild: 3 clicks on the job's Launchpad (partition box, the movie, Launch Run).
    _open(page, f"{base}/locations/movie/jobs/regenerate_movie/playground", r"Launch Run")
    clicks = 0
    page.get_by_role("combobox", name="Partition").click()
    clicks += 1
    page.locator("[class*=menuItem]", has_text=MOVIE).first.click()
    clicks += 1
    page.get_by_role("button", name="Launch Run").click()
    clicks += 1
    assert clicks <= 3
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+"), timeout=120000)  # the UI opens the run
    ui_run_id = re.search(r"/runs/([0-9a-f-]+)", page.url).group(1)
    _open(page, page.url, r"Success", timeout_s=480)
    page.screenshot(path=str(shots / "regenerate_run.png"))
    new_calls = Counter(c["asset"] for c in read_calls(MOVIE)[calls_before:])
    assert new_calls == Counter({"shot_image": 1})
    # The rebuild cleared the warnings.
    checks = f"{base}/assets/final_video?view=checks"
    _open(page, checks, r"nothing to rebuild", select="up_to_date")

    # Runs a user can follow: the UI's run carries the movie's tags like the CLI's do, and the
    # CLI's runs are listed on their job's page (the filter the job page uses).
    of_movie = _graphql(base, RUN_IDS, filter={"tags": [{"key": "movie/id", "value": MOVIE}]})
    assert ui_run_id in of_movie and len(of_movie) > 5, of_movie
    job_page = {
        "pipelineName": "illustrate",
        "tags": [{"key": ".dagster/repository", "value": "__repository__@movie"}],
    }
    assert _graphql(base, RUN_IDS, filter=job_page), "CLI runs missing from the job page"
    # The Overview timeline lists runs by their code location: the CLI's have it too.
    origins = _runs(base, RUN_ORIGINS, filter={"pipelineName": "illustrate"})
    assert origins and all(
        (r["repositoryOrigin"] or {}).get("repositoryLocationName") == "movie" for r in origins
    ), origins

    # The published file (the path `movie status` prints) shows the new image mid-shot.
    status = movie_cli(
        home, "status", MOVIE, extra_env={"MOVIE_PREVIEW_URL": env["MOVIE_PREVIEW_URL"]}
    )
    published = Path(status.stdout.strip().splitlines()[-1])
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    from movie_assets.io import artifacts_from_metadata
    from resources.store import LocalArtifactStore

    revisions = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("shot_image"), asset_partitions=[f"{MOVIE}|s01i0"]
        ),
        limit=2,
    ).records
    new, old = (
        artifacts_from_metadata(dict(r.asset_materialization.metadata)).main for r in revisions
    )
    store = LocalArtifactStore(root=str(home / "artifacts"))
    frame = gray_frame(published, 15.0, 54, 96)
    to_new = np.abs(frame - _image(store.local_path(new))).mean()
    to_old = np.abs(frame - _image(store.local_path(old))).mean()
    assert to_new < to_old, (to_new, to_old)

    # The shot's image preview loads in the browser (served by movie ui's artifact server).
    _open(page, f"{base}/assets/shot_image?view=partitions&partition={MOVIE}|s01i0", r"preview")
    image = page.locator(f"img[src*='/artifacts/{new.sha256}']").first
    image.wait_for(timeout=30000)
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert image.evaluate("img => img.naturalWidth") > 0
    page.screenshot(path=str(shots / "shot_partition.png"))

    # The final video's materialization: contact sheet and delivery path.
    text = _open(page, f"{base}/assets/final_video?view=events", r"contact_sheet")
    assert str(published) in text
    page.screenshot(path=str(shots / "final_video_materialization.png"), full_page=True)

    # A final video forced to the wrong duration fails its check, in the UI and in `movie status`.
    wrong = home.parent / "wrong.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=1080x1920:rate=30:duration=5",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(wrong),
        ],
        check=True,
    )
    ref = store.put_file(wrong, ".mp4")
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key="final_video",
            partition=MOVIE,
            metadata={"artifacts": dg.MetadataValue.json({"main": ref.model_dump()})},
        )
    )
    checked = movie_cli(
        home, "check", MOVIE, extra_env={"MOVIE_PREVIEW_URL": env["MOVIE_PREVIEW_URL"]}
    )
    assert checked.returncode == 1, checked.stderr[-2000:]
    assert "lasts 5.0 s" in checked.stderr
    status = movie_cli(home, "status", MOVIE)
    assert re.search(r"final_video_quality.*failed", status.stderr), status.stderr[-2000:]
    text = _open(
        page,
        f"{base}/assets/final_video?view=checks",
        r"lasts 5\.0 s",
        select="final_video_quality",
    )
    assert "Failed" in text
    page.screenshot(path=str(shots / "final_video_check_failed.png"))

    # More images per segment: the new slots show in the grid without restarting the UI.
    grown = movie_cli(home, "edit", MOVIE, "--images-per-segment", "2")
    assert grown.returncode == 0, grown.stderr[-2000:]
    grid = _open(page, f"{base}/assets/shot_image?view=partitions", r"s01i1", timeout_s=120)
    assert "Missing (2)" in grid and "s00i1" in grid, grid[:2000]
