"""The `up_to_date` marks follow every edit and rebuild of a partition, not only the first.

Dagster keeps one runless check result per check and partition, so marks are recorded under
the run of the materialization they judge; this test drives the sequence a user does (edit,
rebuild, edit again without rebuilding, rebuild) and reads the latest result each time.
"""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.event_api import PartitionKeyFilter

from movie_assets.checks.stale_marks import UP_TO_DATE, mark_pending
from movie_assets.partitions import movie_shot_partitions, shot_partition

MOVIE = "bees"
SHOT = str(shot_partition(MOVIE, "s00i0"))
CHECK = dg.AssetCheckKey(dg.AssetKey("shot_image"), UP_TO_DATE)


@dg.asset(name="shot_image", partitions_def=movie_shot_partitions)
def shot_image_stand_in() -> None:
    """Same key and partitions as the real asset; what it makes does not matter here."""


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIE_HOME", str(tmp_path / ".movie"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        instance.add_dynamic_partitions("movie", [MOVIE])
        yield instance


def _build(instance) -> None:
    assert dg.materialize([shot_image_stand_in], partition_key=SHOT, instance=instance).success


def _mark(instance) -> str:
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [CHECK], partition_filter=PartitionKeyFilter(key=SHOT)
    )[CHECK]
    evaluation = latest.event.asset_check_evaluation
    return "passed" if evaluation.passed else evaluation.description


def _edited(instance, cause: str) -> str:
    """The shot's mark once an edit for `cause` is pending."""
    mark_pending(instance, MOVIE, {"shot_image": {SHOT: cause}})
    return _mark(instance)


def _rebuilt(instance) -> str:
    """The shot's mark once it is rebuilt and nothing is pending any more."""
    _build(instance)
    mark_pending(instance, MOVIE, {})
    return _mark(instance)


def test_marks_follow_edits_and_rebuilds_of_the_same_partition(instance):
    _build(instance)
    assert _edited(instance, "image prompt edited") == "will be rebuilt: image prompt edited"
    assert _rebuilt(instance) == "passed"
    # Edited again, not rebuilt: the second mark on the same materialization shows.
    assert _edited(instance, "edited again") == "will be rebuilt: edited again"
    assert _rebuilt(instance) == "passed"


def test_a_partition_never_built_is_marked_once_and_cleared_when_built(instance):
    assert _edited(instance, "missing") == "will be rebuilt: missing"
    assert _rebuilt(instance) == "passed"


def test_pending_work_is_summarised_per_movie_and_per_asset_for_the_ui(instance):
    from movie_assets.orchestration.pending_marks import (
        pending_by_asset,
        pending_rows,
        pending_summary,
    )
    from resources.domain.models import MovieRequest
    from resources.storage.projects import MovieInputs, ProjectStore

    request = MovieRequest(prompt="Bees and flowers", duration_s=20)
    ProjectStore().save(MovieInputs(movie_id=MOVIE, request=request), change="created")
    mark_pending(
        instance,
        MOVIE,
        {
            "shot_image": {SHOT: "shot_input has a new data version"},
            "final_video": {MOVIE: "after timeline"},
        },
    )
    assert pending_summary() == {
        MOVIE: {
            "partitions": 2,
            "causes": ["shot_image s00i0: shot_input has a new data version"],
        }
    }
    assert pending_by_asset() == {
        "shot_image": f"{MOVIE} (1: shot_input has a new data version)",
        "final_video": f"{MOVIE} (1: after timeline)",
    }
    mark_pending(instance, MOVIE, {})  # rebuilt: nothing pending, nothing described
    assert pending_rows() == {} and pending_by_asset() == {}


def test_the_rebuild_job_and_the_catalog_describe_pending_work():
    from movie_assets.jobs.launch import pending_description

    text = pending_description(
        {
            MOVIE: {
                "partitions": 4,
                "causes": ["shot_image s01i0: shot_input has a new data version"],
            }
        }
    )
    assert text.startswith(f"PENDING {MOVIE}: 4 partition(s) to rebuild, because shot_image s01i0")
    assert f"rebuilds {MOVIE}" in text
    assert pending_description({}).startswith("Every movie is up to date")
