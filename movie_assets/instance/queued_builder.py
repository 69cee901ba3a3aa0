"""Production mode (MOVIE_MODE=production): runs go through the instance's run queue.

The CLI plans a level exactly as in local mode (movie_assets/orchestration/builder.py), then,
instead of executing
runs in its own processes, it creates each run from the code server's snapshot of the job and
submits it: the QueuedRunCoordinator holds it until the daemon launches it through the instance's
run launcher, within the queue's limits. The webserver and daemon see, limit and can cancel every
run; the CLI follows them to the end, reporting each as it finishes.

One run per partition, as in local mode: the assets build one partition per step, and a single
run over a level's partition range would run its partitions one after another in one process
instead of side by side (bench/production_bench.py prints both for every level). What a queued
run costs is kept small by the instance: local runs fork from a warm process that has the code
loaded (movie_assets/instance/warm_launcher.py), and every process keeps a few PostgreSQL
connections open
(movie_assets/instance/storage.py). The bench's figures are in the README ("Benchmarks").
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from movie_assets.orchestration.builder import (
    QUIET_RUN_CONFIG,
    WORKER_TAG,
    Failures,
    LevelPlan,
    OnDone,
    PartitionWork,
    failure_line,
    report_finished,
)
from movie_assets.orchestration.code_location import definitions
from movie_assets.orchestration.levels import quality_checks
from movie_assets.partitions import MOVIE_TAG
from resources.runtime.settings import dagster_home

LOCATION = "movie"
WORKSPACE_ENV = "MOVIE_WORKSPACE"
_DONE = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


def workspace_file() -> Path:
    """The workspace naming the production code server (written by `movie serve`)."""
    return Path(os.environ.get(WORKSPACE_ENV) or dagster_home() / "workspace.yaml")


class QueuedBuilder:
    """Submits a level's runs to the run queue and follows them; the same interface as Builder."""

    def __init__(self, instance: dg.DagsterInstance, poll_s: float = 0.5) -> None:
        self.instance = instance
        self.poll_s = poll_s
        self.submitted: list[str] = []

    def __enter__(self) -> QueuedBuilder:
        from resources.runtime.dagster_private import WorkspaceFileTarget, WorkspaceProcessContext

        path = workspace_file()
        if not path.exists():
            raise RuntimeError(
                f"production mode needs the code server's workspace file {path}: start "
                f"`movie serve`, or set {WORKSPACE_ENV} to a workspace.yaml naming your code server"
            )
        self._process_context = WorkspaceProcessContext(
            self.instance, WorkspaceFileTarget(paths=[str(path)])
        )
        self._process_context.__enter__()
        self.workspace = self._process_context.create_request_context()
        self.location = self.workspace.get_code_location(LOCATION)
        (self.repository,) = self.location.get_repositories().values()
        return self

    def __exit__(self, *exc: object) -> None:
        # Runs already queued keep going under the daemon; Ctrl-C only stops following them.
        self._process_context.__exit__(*exc)

    def submit(self, work: PartitionWork, movie_id: str) -> str:
        """Create the run for one partition of one level and put it in the queue."""
        defs = definitions()
        from resources.runtime.dagster_private import JobSubsetSelector

        assets = frozenset(dg.AssetKey(a) for a in work.assets)
        remote_job = self.location.get_job(
            JobSubsetSelector(
                location_name=LOCATION,
                repository_name=self.repository.name,
                job_name=work.job,
                op_selection=None,
                asset_selection=assets,
                asset_check_selection=quality_checks(work.assets),
            )
        )
        plan = self.location.get_execution_plan(
            remote_job,
            QUIET_RUN_CONFIG,
            step_keys_to_execute=None,
            known_state=None,
            instance=self.instance,
        ).execution_plan_snapshot
        partitions_def = defs.resolve_job_def(work.job).partitions_def
        assert partitions_def is not None
        tags = {
            **remote_job.tags,
            **partitions_def.get_tags_for_partition_key(work.partition),
            MOVIE_TAG: movie_id,
            "movie/level": work.job,
            "movie/reason": "; ".join(f"{a}: {r}" for a, r in work.reasons.items())[:900],
        }
        tags.pop(WORKER_TAG, None)  # the daemon's launcher owns these runs, not this process
        run = self.instance.create_run(
            job_name=work.job,
            run_id=None,
            run_config=QUIET_RUN_CONFIG,
            status=None,
            tags=tags,
            root_run_id=None,
            parent_run_id=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            execution_plan_snapshot=plan,
            job_snapshot=remote_job.job_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            asset_selection=assets,
            asset_check_selection=frozenset(quality_checks(work.assets)),
            resolved_op_selection=remote_job.resolved_op_selection,
            op_selection=None,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_graph=self.repository.asset_graph,
        )
        self.instance.submit_run(run.run_id, self.workspace)
        self.submitted.append(run.run_id)
        return run.run_id

    def run(self, plan: LevelPlan, movie_id: str, on_done: OnDone) -> Failures:
        return report_finished(self._finished(plan, movie_id), on_done)

    def _finished(
        self, plan: LevelPlan, movie_id: str
    ) -> Iterator[tuple[PartitionWork, str | None]]:
        """Submit the level's runs, then yield each (with its error, or None) as it ends."""
        waiting = {self.submit(work, movie_id): work for work in plan.work}
        while waiting:
            runs = self.instance.get_runs(filters=dg.RunsFilter(run_ids=list(waiting)))
            for run in runs:
                if run.status not in _DONE:
                    continue
                work = waiting.pop(run.run_id)
                error = (
                    None
                    if run.status == dg.DagsterRunStatus.SUCCESS
                    else run_error(self.instance, run)
                )
                yield work, error
            if waiting:
                time.sleep(self.poll_s)


def run_error(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """Why a queued run did not succeed: its step failures, else the run's own failure."""
    if run.status == dg.DagsterRunStatus.CANCELED:
        return f"run {run.run_id} was canceled"
    errors = []
    for record in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.step_failure_data is not None:
            errors.append(f"{event.step_key}: {failure_line(event.step_failure_data.error)}")
    if errors:
        return "; ".join(errors)
    for record in instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records:
        return f"run {run.run_id} failed: {record.event_log_entry.message}"
    return f"run {run.run_id} ended {run.status.value}"
