"""Batches that really build (tiny movies: 10 s, one image per segment): a schedule tick builds a
named batch, the nightly rebuild redoes exactly what edits made stale, and a budget that cannot
cover the third movie builds two and skips the third with the reason."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from tests.openai_standin import OpenAIStandIn
from tests.test_batches import write
from tests.test_generate import movie_cli

TINY = "defaults: {duration_s: 10, images_per_segment: 1}\n"


pytestmark = pytest.mark.e2e  # whole-movie batch builds


def _report(instance, name: str) -> dict:
    from movie_assets.io_manager import latest_artifacts
    from resources.storage.store import LocalArtifactStore

    found = latest_artifacts(instance, dg.AssetKey("batch_report"), name)
    assert found is not None, f"no report for batch {name}"
    return json.loads(LocalArtifactStore().local_path(found.main).read_text())


def _tick_and_run(schedule, instance, when: datetime.datetime) -> dg.RunRequest:
    """Evaluate one tick with Dagster's schedule test helpers, then run what it requested."""
    from movie_assets.definitions import defs

    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    result = defs.resolve_job_def("build_batch").execute_in_process(
        partition_key=request.partition_key, tags=request.tags, instance=instance
    )
    assert result.success
    return request


def test_a_schedule_tick_builds_the_batch_and_the_nightly_rebuild_redoes_only_edits(
    tmp_path, monkeypatch
):
    from movie_assets.assets.batches import NIGHTLY
    from movie_assets.orchestration.builder import pending_work, prepare_instance
    from movie_assets.schedules import rebuild_stale_nightly, scheduled_batches
    from resources.storage.ledger import read_calls
    from resources.storage.projects import ProjectStore

    home = tmp_path / ".movie"
    monkeypatch.setenv("MOVIE_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    instance = prepare_instance()
    write(
        home / "batches" / "scheduled" / "lessons.yaml",
        "name: lessons\nschedule: {cron: '0 7 * * 1-5', timezone: Europe/Athens}\n"
        + TINY
        + "movies:\n  - {prompt: How bees make honey, id: bees}\n"
        "  - {prompt: How tides work, id: tides}\n",
    )
    (lessons,) = scheduled_batches()
    monday = datetime.datetime(2025, 1, 6, 5, 0, tzinfo=datetime.UTC)
    request = _tick_and_run(lessons, instance, monday)
    assert request.partition_key == "lessons"
    report = _report(instance, "lessons")
    assert [(m["movie_id"], m["status"]) for m in report["movies"]] == [
        ("bees", "built"),
        ("tides", "built"),
    ]
    for movie in report["movies"]:
        assert Path(movie["output_uri"].removeprefix("file://")).stat().st_size > 10_000
        assert movie["duration_s"] == 10 and movie["thumbnail"]

    # Edits during the day: a new image prompt for bees, nothing for tides.
    edited = movie_cli(home, "edit", "bees", "--shot", "s00i0", "--image-prompt", "A bee, macro")
    assert edited.returncode == 0, edited.stderr
    pending = pending_work(instance, "bees", ProjectStore().load("bees"))
    expected = {asset: len(rows) for asset, rows in pending.items()}
    assert expected["shot_image"] == 1 and "script" not in expected
    calls_before = len(read_calls())

    _tick_and_run(rebuild_stale_nightly, instance, monday + datetime.timedelta(days=1))
    new_calls = Counter((c["movie"], c["asset"]) for c in read_calls()[calls_before:])
    assert new_calls == Counter({("bees", "shot_image"): 1})
    nightly = {m["movie_id"]: m for m in _report(instance, NIGHTLY)["movies"]}
    assert nightly["bees"]["status"] == "built" and nightly["bees"]["rebuilt"] == expected
    assert nightly["tides"]["status"] == "up to date" and nightly["tides"]["rebuilt"] == {}
    # Nothing is stale any more: a second night finds nothing to do.
    assert pending_work(instance, "bees", ProjectStore().load("bees")) == {}


@pytest.fixture
def paid_images():
    """Images from the real OpenAI client against the loopback stand-in: each one has a price."""
    with OpenAIStandIn() as standin:
        yield {
            "OPENAI_API_KEY": "sk-test-batches",
            "OPENAI_BASE_URL": standin.base_url,
            "MOVIE_LLM": "offline",
            "MOVIE_TTS": "offline",
            "MOVIE_IMAGES": "openai",
        }


def test_a_budget_that_cannot_cover_the_third_movie_builds_two_and_skips_it(
    tmp_path, paid_images, monkeypatch
):
    from resources.producers.images.openai_images import OpenAIImages

    price = OpenAIImages.model_fields["price_per_image_usd"].default
    home = tmp_path / ".movie"
    batch = write(
        tmp_path / "three.yaml",
        f"name: three\nbudget_usd: {2.5 * price:.4f}\n"
        + TINY
        + "movies:\n  - {prompt: Bees, id: one}\n  - {prompt: Tides, id: two}\n"
        "  - {prompt: Clouds, id: three}\n",
    )
    done = movie_cli(home, "batch", "run", str(batch), extra_env=paid_images)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [str(home / "out" / f"{m}.mp4") for m in ("one", "two")]

    from resources.storage.ledger import read_calls

    monkeypatch.setenv("MOVIE_HOME", str(home))
    images = Counter(c["movie"] for c in read_calls() if c["asset"] == "shot_image")
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    report = _report(instance, "three")
    assert images == Counter({"one": 1, "two": 1})  # the third movie made no call at all
    statuses = [(m["movie_id"], m["status"]) for m in report["movies"]]
    assert statuses == [("one", "built"), ("two", "built"), ("three", "skipped")]
    skipped = report["movies"][2]
    assert skipped["reason"].startswith("skipped: over the batch budget")
    assert f"may cost ${price:.4f}" in skipped["reason"]
    assert report["movies"][0]["cost_usd"] == pytest.approx(price)
    # Nothing of the third movie is published or marked done.
    assert not (home / "out" / "three.mp4").exists()
    assert not instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("final_video"), asset_partitions=["three"]), 1
    ).records
