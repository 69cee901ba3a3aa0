"""Runs launched outside the CLI (the UI, sensors, schedules) get the movie's tags from the run
coordinator named in the project's dagster.yaml, and a movie partition without inputs is
refused with a message on the run instead of failing in every step."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from movie_assets.definitions import defs
from movie_assets.instance.run_coordinator import (
    REPOSITORY_LABEL,
    MovieRunCoordinator,
    record_code_location,
)
from resources.storage.projects import ProjectStore
from tests.helpers import instance_with_movie

MOVIE = "bees"


@pytest.fixture
def instance(tmp_path, monkeypatch):
    instance = instance_with_movie(tmp_path / ".movie", monkeypatch, MOVIE)
    yield instance
    instance.dispose()


def _origin(job_name: str) -> RemoteJobOrigin:
    """Where the webserver says a run's job comes from: the `movie` code location."""
    location = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(module_name="movie_assets.definitions"),
        location_name="movie",
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, "__repository__"), job_name)


def _submit(instance: dg.DagsterInstance, job_name: str, tags: dict, assets=None) -> dg.DagsterRun:
    """Create and submit a run as the webserver does for a Launch click."""
    if assets:
        job = defs.resolve_implicit_job_def_def_for_assets(assets)
    else:
        job = defs.resolve_job_def(job_name)
    run = instance.create_run_for_job(
        job_def=job,
        tags={**job.tags, **tags},  # the webserver merges the job's own tags
        asset_selection=assets,
        remote_job_origin=_origin(job.name),
    )
    # The instance's coordinator, as configured by dagster.yaml (instance.submit_run would also
    # want the webserver's code-location origin, which only matters to the launcher).
    assert isinstance(instance.run_coordinator, MovieRunCoordinator)
    instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))
    submitted = instance.get_run_by_id(run.run_id)
    assert submitted is not None
    return submitted


def _submit_asset(
    instance: dg.DagsterInstance, asset: str, dimension: str, key: str
) -> dg.DagsterRun:
    """A run of `asset` on one partition of the movie, submitted as the UI submits it:
    `dimension` is the partition's other dimension (shot or segment), `key` its key there."""
    tags = {
        "dagster/partition": f"{MOVIE}|{key}",
        "dagster/partition/movie": MOVIE,
        f"dagster/partition/{dimension}": key,
    }
    return _submit(instance, "", tags, assets={dg.AssetKey(asset)})


def test_a_launched_job_gets_the_movie_and_level_tags(instance):
    run = _submit(instance, "regenerate_movie", {"dagster/partition": MOVIE})
    assert run.status == dg.DagsterRunStatus.QUEUED
    assert run.tags["movie/id"] == MOVIE
    assert run.tags["movie/level"] == "regenerate"
    assert "movie/pool" not in run.tags


def test_an_asset_run_of_one_shot_names_its_movie_and_asset(instance):
    run = _submit_asset(instance, "shot_image", "shot", "s01i0")
    assert run.status == dg.DagsterRunStatus.QUEUED
    assert run.tags["movie/id"] == MOVIE
    assert run.tags["movie/level"] == "shot_image"
    assert "movie/pool" not in run.tags  # shot_image is not in the gpu pool


def test_a_clip_run_is_tagged_for_the_gpu_limit_before_it_is_queued(instance):
    run = _submit_asset(instance, "segment_clip", "segment", "s00")
    assert run.status == dg.DagsterRunStatus.QUEUED
    assert run.tags["movie/pool"] == "gpu"  # held by the queue's GPU limit before it launches


def test_a_movie_partition_without_inputs_is_refused_with_a_message(instance):
    instance.add_dynamic_partitions("movie", ["added-in-the-ui"])  # the UI's "Add a partition"
    run = _submit(instance, "regenerate_movie", {"dagster/partition": "added-in-the-ui"})
    assert run.status == dg.DagsterRunStatus.FAILURE
    messages = [event.message for event in instance.all_logs(run.run_id)]
    assert any("'added-in-the-ui' has no inputs" in m and "movie generate" in m for m in messages)


def test_the_junk_partition_of_a_refused_run_is_removed(instance):
    instance.add_dynamic_partitions("movie", ["added-in-the-ui"])
    run = _submit(instance, "regenerate_movie", {"dagster/partition": "added-in-the-ui"})
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert instance.get_dynamic_partitions("movie") == [MOVIE]
    messages = [event.message for event in instance.all_logs(run.run_id)]
    assert any("the partition was removed" in m for m in messages), messages


def _new_movie(instance: dg.DagsterInstance, **request) -> dg.DagsterRun:
    job = defs.resolve_job_def("new_movie")
    run = instance.create_run_for_job(
        job_def=job,
        run_config={"ops": {"create_and_build_movie": {"config": request}}},
        remote_job_origin=_origin(job.name),
    )
    instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))
    return instance.get_run_by_id(run.run_id)


@pytest.mark.parametrize(
    "request_fields, reason",
    [
        ({"duration": -10}, "duration: duration_s must be a multiple of 10"),
        ({"style": "oil"}, "style: Input should be"),
        ({"voice": "nobody"}, "unknown voice 'nobody'"),
        ({"id": "Not An Id"}, "id: movie id 'Not An Id' must be"),
        ({"documents": ["../../etc/passwd"]}, "must be the name of a file in the upload folder"),
        ({"documents": ["missing.txt"]}, "no file 'missing.txt' in the upload folder"),
    ],
)
def test_a_bad_new_movie_request_is_refused_before_anything_exists(
    instance, request_fields, reason
):
    run = _new_movie(instance, **{"prompt": "Owls at night", "id": "owls", **request_fields})
    assert run.status == dg.DagsterRunStatus.FAILURE
    messages = " ".join(event.message for event in instance.all_logs(run.run_id))
    assert "refused, nothing was created" in messages and reason in messages, messages
    assert instance.get_dynamic_partitions("movie") == [MOVIE]
    assert ProjectStore().list_ids() == [MOVIE]


def test_a_good_new_movie_request_is_queued_with_its_movie_tag(instance, tmp_path):
    uploads = tmp_path / ".movie" / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "owls.txt").write_text("Owls hunt at night. They fly silently.")
    run = _new_movie(instance, prompt="Owls at night", duration=10, documents=["owls.txt"])
    assert run.status == dg.DagsterRunStatus.QUEUED
    assert run.tags["movie/id"].startswith("owls-at-night-")
    assert run.tags["movie/level"] == "new_movie"


def test_a_new_movie_that_would_change_an_existing_one_is_refused(instance):
    run = _new_movie(instance, prompt="Something else", id=MOVIE)
    assert run.status == dg.DagsterRunStatus.FAILURE
    messages = " ".join(event.message for event in instance.all_logs(run.run_id))
    assert "exists with other settings" in messages
    assert ProjectStore().load(MOVIE).request.prompt == "Bees and flowers"


def test_a_batch_run_is_not_taken_for_a_movie(instance):
    instance.add_dynamic_partitions("batch", ["lessons"])
    run = _submit(instance, "build_batch", {"dagster/partition": "lessons"})
    assert run.status == dg.DagsterRunStatus.QUEUED
    assert "movie/id" not in run.tags


def test_an_in_process_run_gets_the_code_location_after_it_finishes(instance):
    @dg.op
    def step() -> int:
        return 1

    @dg.job(name="write")  # named like a level job: the UI matches runs to jobs by name
    def level() -> None:
        step()

    # Tagged as the CLI tags its runs, so the job page lists them while they run.
    result = level.execute_in_process(
        instance=instance, tags={**REPOSITORY_LABEL, "movie/id": MOVIE}
    )
    assert instance.get_run_by_id(result.run_id).remote_job_origin is None
    record_code_location(instance, result.run_id)
    run = instance.get_run_by_id(result.run_id)
    assert run.remote_job_origin.location_name == "movie"
    assert run.remote_job_origin.repository_origin.repository_name == "__repository__"
    # The rewrite keeps the finished run's own record: status and tags.
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags["movie/id"] == MOVIE
    listed = instance.get_runs(dg.RunsFilter(tags={".dagster/repository": "__repository__@movie"}))
    assert [r.run_id for r in listed] == [result.run_id]
    record_code_location(instance, result.run_id)  # a second call changes nothing
    assert instance.get_run_by_id(result.run_id) == run


def test_an_instance_made_before_the_warm_launcher_is_given_it(tmp_path, monkeypatch):
    """A project's dagster.yaml is copied once; one from before the local warm launcher (and the
    plug-ins' move) still names Dagster's default launcher and old modules until its next use."""
    from movie_assets.instance.warm_launcher import WarmRunLauncher
    from movie_assets.orchestration.builder import DAGSTER_YAML, prepare_instance

    template = yaml.safe_load(DAGSTER_YAML.read_text())
    old = {key: value for key, value in template.items() if key != "run_launcher"}
    old["run_coordinator"]["module"] = "movie_assets.run_tags"
    home = tmp_path / ".movie"
    config = home / "dagster" / "dagster.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(yaml.safe_dump(old))
    monkeypatch.setenv("MOVIE_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("MOVIE_MODE", raising=False)

    instance = prepare_instance()
    try:
        assert isinstance(instance.run_launcher, WarmRunLauncher)
        preloaded = template["run_launcher"]["config"]["preload_modules"]
        assert "movie_assets.definitions" in preloaded
        assert instance.run_launcher.forker.preload_modules == preloaded
        assert isinstance(instance.run_coordinator, MovieRunCoordinator)
    finally:
        instance.dispose()
    upgraded = config.read_text()
    assert yaml.safe_load(upgraded)["run_launcher"] == template["run_launcher"]
    prepare_instance().dispose()
    assert config.read_text() == upgraded, "the upgrade is done once"
