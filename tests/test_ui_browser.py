"""The UI as a user sees it: Debian's chromium driven by Playwright against `movie ui`.

Every real click is counted from loading the UI's start page (the Overview timeline) to "run
launched" (the UI opens the run): rebuilding an edited movie takes at most 4 (Jobs,
rebuild_movie, Launchpad, Launch Run; the stale movie is preselected and the catalog says what is
pending and why), a new movie from the Launchpad at most 8 (Jobs, new_movie, Launchpad, the
editor, Launch Run; the request is typed). The new movie completes and `movie status` shows it;
the rebuild costs one image call and the published file shows the new image. A refused request
(a negative duration) leaves no movie, no partition and no failed asset. The partition grid holds
the slots the movie plans and grows when an edit plans more; previews load as thumbnails; a
failing quality check shows in the UI and in `movie status`. Screenshots go to
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
import yaml
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from movie_assets.instance.local_stack import free_port
from resources.runtime.settings import ffmpeg_exe
from tests.test_generate import SHORT_MOVIE, generated_movie, movie_cli
from tests.test_regenerate import gray_frame

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
pytestmark = [
    pytest.mark.e2e,  # a browser against movie ui
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium"),
]


def _image(path: Path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.asarray(picture.convert("L").resize((54, 96)), dtype=np.float32)


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser") / ".movie"
    shots = Path(os.environ.get("MOVIE_SCREENSHOTS", str(home.parent / "screenshots")))
    shots.mkdir(parents=True, exist_ok=True)
    preview = f"http://127.0.0.1:{free_port()}"
    extra = {"MOVIE_PREVIEW_URL": preview}
    generated_movie(home, "Bees and flowers", MOVIE, *SHORT_MOVIE, extra_env=extra)
    port = free_port()
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


RUN_OF = (
    "query($runId: ID!) { runOrError(runId: $runId) "
    "{ ... on Run { pipelineName runConfigYaml } } }"
)


def _run_of(base: str, run_id: str) -> tuple[str, dict]:
    """The job and the run config of a run, as the instance recorded them."""
    body = json.dumps({"query": RUN_OF, "variables": {"runId": run_id}}).encode()
    request = urllib.request.Request(base + "/graphql", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        run = json.loads(response.read())["data"]["runOrError"]
    return run["pipelineName"], yaml.safe_load(run["runConfigYaml"]) or {}


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


class Clicks:
    """Every click a user makes, counted; typing is not a click."""

    def __init__(self, page) -> None:
        self.page = page
        self.count = 0
        self.log: list[str] = []

    def on(self, locator, what: str, timeout_s: float = 120) -> None:
        locator.click(timeout=timeout_s * 1000)
        self.count += 1
        self.log.append(what)


def _start_page(page, base: str) -> None:
    """Load the UI as a user opens it: its root, which Dagster sends to the Overview."""
    page.goto(base)
    page.wait_for_url(re.compile(r"/overview"), timeout=120000)
    page.locator("a[href='/jobs']").first.wait_for(timeout=120000)


def _to_launchpad(page, clicks: Clicks, job: str) -> None:
    clicks.on(page.locator("a[href='/jobs']").first, "Jobs")
    clicks.on(page.locator("a", has_text=re.compile(rf"^{job}$")).first, job)
    clicks.on(page.get_by_role("tab", name="Launchpad").first, "Launchpad")
    page.locator(".CodeMirror").first.wait_for(timeout=120000)


def _type_config(page, clicks: Clicks, yaml: str) -> None:
    """Click into the Launchpad's editor and replace its config by typing."""
    clicks.on(page.locator(".CodeMirror-code").first, "the config editor")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(yaml)


def _launch(page, clicks: Clicks) -> str:
    """Launch Run; returns the run id once the UI shows the run ("run launched")."""
    button = page.get_by_role("button", name="Launch Run")
    deadline = time.time() + 120
    while not button.is_enabled() and time.time() < deadline:  # the config is being checked
        time.sleep(1)
    clicks.on(button, "Launch Run")
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+"), timeout=180000)
    return re.search(r"/runs/([0-9a-f-]+)", page.url).group(1)


ASSET_STATS = "{ assetNodes { assetKey { path } partitionStats { numFailed } } }"


def _failed_assets(base: str) -> list[str]:
    body = json.dumps({"query": ASSET_STATS}).encode()
    request = urllib.request.Request(base + "/graphql", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        nodes = json.loads(response.read())["data"]["assetNodes"]
    return [
        "/".join(n["assetKey"]["path"])
        for n in nodes
        if (n.get("partitionStats") or {}).get("numFailed")
    ]


def _movie_partitions(home: Path) -> list[str]:
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home / "dagster")).get_dynamic_partitions("movie")


def test_edit_rebuild_preview_and_failing_check_in_the_browser(ui, monkeypatch):
    home, base, page, shots, env = ui
    monkeypatch.setenv("MOVIE_HOME", str(home))
    from resources.storage.ledger import read_calls

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

    # Where people look: the catalog names the pending work on each asset's row, with why
    # (`movie ui` reloads the definitions when the pending work changes).
    _open(
        page,
        f"{base}/assets",
        rf"REBUILD PENDING: {MOVIE} \(1: after timeline\)",  # final_video's row
        timeout_s=300,
    )
    deadline = time.time() + 60
    while "Loading" in page.inner_text("body") and time.time() < deadline:
        time.sleep(1)  # the status column fills in after the rows
    page.screenshot(path=str(shots / "catalog_pending.png"))

    # The rebuild from the start page: Jobs, rebuild_movie (its description says what is
    # pending and why), Launchpad (the movie is preselected), Launch Run.
    _start_page(page, base)
    clicks = Clicks(page)
    clicks.on(page.locator("a[href='/jobs']").first, "Jobs")
    clicks.on(page.locator("a", has_text=re.compile(r"^rebuild_movie$")).first, "rebuild_movie")
    page.get_by_text(f"PENDING {MOVIE}:").first.wait_for(timeout=120000)
    assert "shot_input has a new data version" in page.inner_text("body")
    page.screenshot(path=str(shots / "rebuild_job.png"))
    clicks.on(page.get_by_role("tab", name="Launchpad").first, "Launchpad")
    page.locator(".CodeMirror").first.wait_for(timeout=120000)
    editor = page.locator(".CodeMirror").first.inner_text()
    assert f"movie: {MOVIE}" in editor, editor
    page.screenshot(path=str(shots / "rebuild_launchpad.png"))
    ui_run_id = _launch(page, clicks)
    # Four clicks and no typing were enough: the run they launched is the rebuild of this movie,
    # with the config the Launchpad preselected (nothing else was touched).
    assert clicks.log == ["Jobs", "rebuild_movie", "Launchpad", "Launch Run"], clicks.log
    job, config = _run_of(base, ui_run_id)
    assert job == "rebuild_movie" and f"movie: {MOVIE}" in yaml.safe_dump(config), (job, config)
    print(f"rebuild: {clicks.count} clicks from the start page: {clicks.log}")
    _open(page, page.url, r"Success", timeout_s=600)
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
    from movie_assets.io_manager import artifacts_from_metadata
    from resources.storage.store import LocalArtifactStore

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
    image = page.locator(f"img[src*='/thumbnails/'][src*='{new.sha256}']").first
    image.wait_for(timeout=30000)
    image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    # A thumbnail (a 1080x1920 shot is 180x320), shown whole; it links to the full image.
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert 0 < width <= 560 and 0 < height <= 320, (width, height)
    link = image.evaluate("img => img.closest('a') && img.closest('a').href")
    assert link and link.endswith(f"/artifacts/{new.sha256}{new.suffix}"), link
    page.screenshot(path=str(shots / "shot_partition.png"))

    # The final video's materialization: contact sheet and delivery path.
    text = _open(page, f"{base}/assets/final_video?view=events", r"contact_sheet")
    assert str(published) in text
    sheet = page.locator("img[src*='/thumbnails/']").first
    sheet.wait_for(timeout=30000)
    sheet.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=sheet.element_handle()
    )
    shown = sheet.bounding_box()
    natural = sheet.evaluate("img => img.naturalWidth")
    assert natural <= 560 and shown["width"] >= natural - 1, (natural, shown)  # whole, unclipped
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


NEW_MOVIE = "owls"
NEW_REQUEST = """ops:
  create_and_build_movie:
    config:
      prompt: Owls hunting at night
      duration: {duration}
      images_per_segment: 1
      style: watercolor
      id: {movie}
"""


def test_a_refused_request_leaves_no_movie_no_partition_and_no_failed_asset(ui):
    home, base, page, shots, env = ui
    before = set(_movie_partitions(home))
    _start_page(page, base)
    clicks = Clicks(page)
    _to_launchpad(page, clicks, "new_movie")
    # The form as it opens: a whole request with its defaults, described in the help panel.
    page.locator(".CodeMirror").first.get_by_text("How honey bees make honey").wait_for()
    page.screenshot(path=str(shots / "new_movie_form.png"))
    _type_config(page, clicks, NEW_REQUEST.format(duration=-10, movie="refused"))
    _launch(page, clicks)
    text = _open(page, page.url, r"refused, nothing was created", timeout_s=120)
    assert "duration" in text and "got -10" in text, text[:3000]
    page.screenshot(path=str(shots / "new_movie_refused.png"))
    assert set(_movie_partitions(home)) == before
    assert not (home / "movies" / "refused").exists()
    assert _failed_assets(base) == []


def test_a_new_movie_from_the_launchpad(ui):
    home, base, page, shots, env = ui
    _start_page(page, base)
    page.screenshot(path=str(shots / "start_page.png"))
    clicks = Clicks(page)
    _to_launchpad(page, clicks, "new_movie")
    _type_config(page, clicks, NEW_REQUEST.format(duration=10, movie=NEW_MOVIE))
    page.screenshot(path=str(shots / "new_movie_launchpad.png"))
    run_id = _launch(page, clicks)
    # Five clicks and the typed request: the run they launched is new_movie with that request.
    assert clicks.log == ["Jobs", "new_movie", "Launchpad", "the config editor", "Launch Run"]
    job, config = _run_of(base, run_id)
    typed = yaml.safe_load(NEW_REQUEST.format(duration=10, movie=NEW_MOVIE))
    op = "create_and_build_movie"
    launched = config.get("ops", {}).get(op, {}).get("config", {})
    assert job == "new_movie" and launched == typed["ops"][op]["config"], (job, config)
    print(f"new movie: {clicks.count} clicks from the start page: {clicks.log}")
    _open(page, page.url, r"Success", timeout_s=900)
    page.screenshot(path=str(shots / "new_movie_run.png"))
    # The run carries the movie's tag, so the Runs filter movie/id=owls finds it.
    of_movie = _graphql(base, RUN_IDS, filter={"tags": [{"key": "movie/id", "value": NEW_MOVIE}]})
    assert run_id in of_movie, of_movie
    assert NEW_MOVIE in _movie_partitions(home)
    status = movie_cli(
        home, "status", NEW_MOVIE, extra_env={"MOVIE_PREVIEW_URL": env["MOVIE_PREVIEW_URL"]}
    )
    assert status.returncode == 0, status.stderr[-2000:]
    assert "Owls hunting at night" in status.stdout + status.stderr
    assert "to rebuild" not in status.stdout + status.stderr, status.stderr[-2000:]
    published = Path(status.stdout.strip().splitlines()[-1])
    assert published == home / "out" / f"{NEW_MOVIE}.mp4" and published.stat().st_size > 0
    assert _failed_assets(base) == []
