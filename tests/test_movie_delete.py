"""Deleting a movie (`movie delete`, the UI's `delete_movie` job): its partition goes, its inputs
and published file are kept aside with its history, `movie restore` brings it back as it was,
`--purge` removes the kept copies; a movie partition without inputs is junk and removed."""

from __future__ import annotations

import dagster as dg
import pytest

from movie_assets.orchestration.deletion import (
    MovieBusy,
    delete_movie,
    deleted_copies,
    purge_deleted,
    remove_junk_partition,
    restore_movie,
)
from resources.storage.projects import ProjectStore, UnknownMovie
from tests.helpers import instance_with_movie

MOVIE = "bees"


@pytest.fixture
def instance(tmp_path, monkeypatch):
    """The movie with one revision of `research` in its history and its published file."""
    home = tmp_path / ".movie"
    instance = instance_with_movie(home, monkeypatch, MOVIE)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="research", partition=MOVIE, metadata={"rev": 1})
    )
    published = home / "out" / f"{MOVIE}.mp4"
    published.parent.mkdir(parents=True)
    published.write_bytes(b"movie")
    yield instance
    instance.dispose()


def _revisions(instance) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("research"), asset_partitions=[MOVIE]), 10
    ).records
    return len(records)


def test_delete_then_restore_brings_the_movie_back_with_its_history(instance, tmp_path):
    home = tmp_path / ".movie"
    folder = delete_movie(instance, MOVIE)
    assert instance.get_dynamic_partitions("movie") == []
    assert ProjectStore().list_ids() == []
    assert not (home / "out" / f"{MOVIE}.mp4").exists()
    assert (folder / "movie" / "inputs.json").exists() and (folder / f"{MOVIE}.mp4").exists()
    assert _revisions(instance) == 1  # the history stays in the instance
    with pytest.raises(UnknownMovie):
        delete_movie(instance, MOVIE)

    restore_movie(instance, MOVIE)
    assert instance.get_dynamic_partitions("movie") == [MOVIE]
    assert ProjectStore().load(MOVIE).request.prompt == "Bees and flowers"
    assert [e["change"] for e in ProjectStore().edits(MOVIE)] == ["created"]
    assert (home / "out" / f"{MOVIE}.mp4").read_bytes() == b"movie"
    assert deleted_copies(MOVIE) == []
    with pytest.raises(ValueError, match="exists"):
        restore_movie(instance, MOVIE)


def test_purge_removes_the_kept_copies_for_good(instance):
    delete_movie(instance, MOVIE)
    assert purge_deleted(MOVIE) == 1
    with pytest.raises(UnknownMovie):
        restore_movie(instance, MOVIE)


def test_a_movie_with_a_run_in_progress_is_not_deleted(instance):
    run = instance.add_run(
        dg.DagsterRun(
            job_name="rebuild_movie",
            status=dg.DagsterRunStatus.STARTED,
            tags={"movie/id": MOVIE},
        )
    )
    with pytest.raises(MovieBusy, match="in progress"):
        delete_movie(instance, MOVIE)
    assert instance.get_dynamic_partitions("movie") == [MOVIE]
    delete_movie(instance, MOVIE, this_run=run.run_id)  # the deleting run itself
    assert instance.get_dynamic_partitions("movie") == []


def test_a_partition_without_inputs_is_junk(instance):
    instance.add_dynamic_partitions("movie", ["added-in-the-ui", "Bad|Key"])
    assert remove_junk_partition(instance, "added-in-the-ui")
    assert remove_junk_partition(instance, "Bad|Key")
    assert not remove_junk_partition(instance, MOVIE)  # a real movie stays
    assert instance.get_dynamic_partitions("movie") == [MOVIE]


def test_the_ui_jobs_delete_and_refuse_without_leaving_anything(instance):
    from movie_assets.definitions import defs

    refused = defs.resolve_job_def("new_movie").execute_in_process(
        run_config={
            "ops": {"create_and_build_movie": {"config": {"prompt": "Owls", "duration": -10}}}
        },
        instance=instance,
        raise_on_error=False,
    )
    assert not refused.success  # the run checks the request too, whoever launched it
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "refused, nothing was created: duration" in failure.step_failure_data.error.message
    assert instance.get_dynamic_partitions("movie") == [MOVIE]
    assert ProjectStore().list_ids() == [MOVIE]

    deleted = defs.resolve_job_def("delete_movie").execute_in_process(
        run_config={"ops": {"delete_one_movie": {"config": {"movie": MOVIE}}}},
        instance=instance,
        tags={"movie/id": MOVIE},  # as the run coordinator tags it: not "in progress" for itself
    )
    assert deleted.success
    assert instance.get_dynamic_partitions("movie") == []
    assert len(deleted_copies(MOVIE)) == 1
