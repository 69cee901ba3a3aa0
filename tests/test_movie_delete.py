"""Deleting a movie (`movie delete`, the UI's `delete_movie` job): its partition goes, its inputs
and published file are kept aside with its history, `movie restore` brings it back as it was,
`--purge` removes the kept copies; a movie partition without inputs is junk and removed."""

from __future__ import annotations

import dagster as dg
import pytest

from movie_assets.build import prepare_instance
from movie_assets.deletion import (
    MovieBusy,
    delete_movie,
    deleted_copies,
    purge_deleted,
    remove_junk_partition,
    restore_movie,
)
from resources.models import MovieRequest
from resources.projects import MovieInputs, ProjectStore, UnknownMovie

MOVIE = "bees"


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIE_HOME", str(tmp_path / ".movie"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("MOVIE_MODE", raising=False)
    instance = prepare_instance()
    request = MovieRequest(prompt="Bees and flowers", duration_s=20)
    ProjectStore().save(MovieInputs(movie_id=MOVIE, request=request), change="created")
    instance.add_dynamic_partitions("movie", [MOVIE])
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="research", partition=MOVIE, metadata={"rev": 1})
    )
    published = tmp_path / ".movie" / "out" / f"{MOVIE}.mp4"
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
