"""How should a batch build whole movies with the daemon? Two ways, measured on the same kind
of movies (10 s, one image per segment, offline producers), each with the real daemon:

  driver:   drop a batch file into the inbox; the sensor launches one `build_batch` run which
            drives the levels itself (the builder's planner, level runs in that run's process);
  backfill: one Dagster asset backfill across the movie, segment and shot partitions of the
            same number of movies, launched through GraphQL as the UI does; the backfill daemon
            launches a run per partition and level as their parents finish.

Prints wall seconds from request to the last final video, runs launched, and the ratio.
Usage: python bench/batch_bench.py [movies]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import dagster as dg  # noqa: E402

from tests.test_ui_automation import Dagster, _free_port  # noqa: E402

TOPICS = ["How bees make honey", "How tides work", "Why leaves turn red", "Where rain comes from"]


def finals(instance: dg.DagsterInstance, movie_ids: list[str]) -> int:
    return sum(
        bool(
            instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("final_video"), asset_partitions=[m]),
                1,
            ).records
        )
        for m in movie_ids
    )


def wait_for(done, started: float, limit_s: float = 1800) -> float:
    while time.time() - started < limit_s:
        if done():
            return time.time() - started
        time.sleep(1)
    raise RuntimeError(f"not done within {limit_s} s")


def driver(instance, home: Path, count: int) -> tuple[float, int]:
    ids = [f"driver-{i}" for i in range(count)]
    rows = "".join(
        f"  - {{prompt: {TOPICS[i % len(TOPICS)]}, id: {m}}}\n" for i, m in enumerate(ids)
    )
    text = "name: bench\ndefaults: {duration_s: 10, images_per_segment: 1}\nmovies:\n" + rows
    inbox = home / "batches" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (home / "batches" / ".bench.yaml").write_text(text)
    started = time.time()
    os.replace(home / "batches" / ".bench.yaml", inbox / "bench.yaml")
    # Done when the report exists: every movie is built, published and has its thumbnail.
    seconds = wait_for(
        lambda: instance.fetch_materializations(dg.AssetKey("batch_report"), 1).records, started
    )
    assert finals(instance, ids) == len(ids)
    records = [
        r for r in instance.get_run_records() if r.create_timestamp.timestamp() >= started - 1
    ]
    launched = sum(r.dagster_run.job_name == "build_batch" for r in records)
    levels = sum("movie/level" in r.dagster_run.tags for r in records)
    print(f"driver: {launched} run launched by the daemon, {levels} level runs inside it")
    return seconds, launched + levels


def backfill(instance, server: Dagster, count: int) -> tuple[float, int]:
    from dagster._core.execution.backfill import BulkActionStatus

    from movie_assets.orchestration.builder import observe_inputs, register_movie
    from movie_assets.orchestration.levels import LEVELS
    from movie_assets.partitions import planned_partitions
    from resources.domain.models import MovieRequest
    from resources.storage.projects import MovieInputs, ProjectStore

    ids = [f"backfill-{i}" for i in range(count)]
    for i, movie_id in enumerate(ids):
        # Other topics than the driver's: a repeated call would be answered from the store.
        topic = TOPICS[(i + count) % len(TOPICS)]
        request = MovieRequest(prompt=topic, duration_s=10, images_per_segment=1)
        ProjectStore().save(MovieInputs(movie_id=movie_id, request=request), change="bench")
        register_movie(instance, movie_id)
        observe_inputs(instance, movie_id)
    selectors = []
    for _, level, assets in LEVELS:
        keys = [
            str(k)
            for m in ids
            for k in planned_partitions(m, ProjectStore().load(m).request, level)
        ]
        for asset in assets:
            ranges = [{"start": k, "end": k} for k in keys]
            selectors.append({"assetKey": {"path": [asset]}, "partitions": {"ranges": ranges}})
    started = time.time()
    launched = server.query(
        """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
             __typename ... on LaunchBackfillSuccess { backfillId }
             ... on PythonError { message } } }""",
        {"p": {"partitionsByAssets": selectors, "title": "bench: whole movies"}},
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    # Done when the backfill is: every asset of every planned partition, thumbnails included.
    seconds = wait_for(
        lambda: instance.get_backfill(backfill_id).status != BulkActionStatus.REQUESTED,
        started,
    )
    print(f"backfill: {instance.get_backfill(backfill_id).status.value}")
    assert finals(instance, ids) == len(ids)
    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    return seconds, len(runs)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        home = Path(tmp) / ".movie"
        os.environ.update(
            MOVIE_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), MOVIE_BATCH_INTERVAL_S="5"
        )
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            os.environ.pop(name, None)
        from movie_assets.orchestration.builder import prepare_instance

        instance = prepare_instance()
        (home / "logs").mkdir(parents=True, exist_ok=True)
        server = Dagster(home, _free_port())
        try:
            driver_s, driver_runs = driver(instance, home, count)
            backfill_s, backfill_runs = backfill(instance, server, count)
        finally:
            server.stop()
        print(f"movies per batch                      {count} (10 s, 1 image per segment, offline)")
        print(f"driver   (inbox -> one build_batch run) {driver_s:7.1f} s  {driver_runs:3d} runs")
        print(
            f"backfill (GraphQL asset backfill)       {backfill_s:7.1f} s  {backfill_runs:3d} runs"
        )
        print(f"backfill / driver time                  {backfill_s / driver_s:7.2f}")


if __name__ == "__main__":
    main()
