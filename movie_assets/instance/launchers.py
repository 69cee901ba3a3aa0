"""Run launchers: GPU runs go to a worker on an Akash lease, every other run stays local.

An instance has exactly one run launcher, so `DelegatingRunLauncher` is the one configured in
dagster.yaml. It routes a run to `AkashRunLauncher` when its plan has a step in the GPU pool
and the daemon has AKASH_CONSOLE_API_KEY (or the run is tagged `movie/launcher: akash`), to
`WarmRunLauncher` (movie_assets/instance/warm_launcher.py: this host, forked from a process that
has the code
loaded) otherwise, and
records the choice in the run's `movie/launcher` tag so terminate and health checks find the
child that launched it. The Akash launcher gets a warm lease (or a new one), tags the run with
`akash/dseq`, `akash/provider`, `akash/worker` (a URL, no secret) and the lease's price, and hands
the worker the run's ExecuteRunArgs. Runs are not resumed (`resume_run` refuses, with why;
run monitoring keeps max_resume_run_attempts at 0, which Dagster requires of a launcher that
does not resume): a run whose worker died is marked failed, and `movie regenerate` builds what
it left missing. The Console API key is read from the environment of the
process that launches (the daemon: AKASH_CONSOLE_API_KEY, AKASH_CONSOLE_URL, MOVIE_GPU_*); the
webserver needs none of it, and the worker only ever sees its lease's own secret.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from dagster import DagsterRun, DagsterRunStatus, Field, IntSource, StringSource, serialize_value

from gpu_jobs.console_api import API_KEY_ENV, ConsoleClient
from gpu_jobs.leases import (
    Lease,
    LeaseManager,
    LeaseSettings,
    read_leases,
    release_run,
    state_path,
)
from gpu_jobs.worker_client import WorkerClient, WorkerRefused, WorkerUnreachable
from movie_assets.instance.launcher_base import LAUNCHER_TAG, LOCAL_LAUNCHER, ConfiguredRunLauncher
from movie_assets.instance.warm_launcher import WarmRunLauncher
from resources.runtime.dagster_private import (
    CheckRunHealthResult,
    ExecuteRunArgs,
    LaunchRunContext,
    ResumeRunContext,
    RunLauncher,
    WorkerStatus,
    check,
)

DSEQ_TAG = "akash/dseq"
PROVIDER_TAG = "akash/provider"
WORKER_TAG = "akash/worker"
PRICE_TAG = "akash/usd_per_hour"
GPU_SECONDS_TAG = "akash/gpu_seconds"
COST_TAG = "akash/cost_usd"
_log = logging.getLogger(__name__)
RESUME_REFUSED = (
    "runs are not resumed here: a run on an Akash lease loses its process (and the lease its "
    "disk) with its worker, and a local run's process is gone with it; keep "
    "run_monitoring.max_resume_run_attempts at 0 (dagster.production.yaml does) and rebuild "
    "what the failed run left missing with `movie regenerate MOVIE_ID`"
)


def uses_pool(instance, run: DagsterRun, pool: str) -> bool:
    """Whether any step this run executes is in `pool` (from the run's stored plan)."""
    if not run.execution_plan_snapshot_id:
        return False
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    selected = set(run.step_keys_to_execute or [])
    return any(step.pool == pool and (not selected or step.key in selected) for step in plan.steps)


class AkashRunLauncher(ConfiguredRunLauncher):
    def __init__(
        self,
        maintain_every_s: int = 30,
        leases: LeaseManager | None = None,
    ) -> None:
        self._leases = leases
        self.maintain_every_s = maintain_every_s
        self._maintainer: threading.Thread | None = None
        self._stop = threading.Event()
        super().__init__()

    @property
    def leases(self) -> LeaseManager:
        """Built at first need from AKASH_CONSOLE_API_KEY: only the process that launches (the
        daemon) needs the key; the webserver terminates runs through the worker alone."""
        if self._leases is None:
            self._leases = LeaseManager(ConsoleClient.from_env(), LeaseSettings.from_env())
        return self._leases

    @classmethod
    def config_type(cls) -> dict:
        return {"maintain_every_s": Field(IntSource, is_required=False, default_value=30)}

    def register_instance(self, instance) -> None:
        super().register_instance(instance)
        # Leases outlive the daemon that opened them: the process holding the Console API key
        # (the daemon) resumes their idle closing and top-ups at once, not at its first launch.
        if os.environ.get(API_KEY_ENV) and state_path().exists():
            if any(lease.state != "closed" for lease in read_leases()):
                self.start_maintainer()

    # ---- launching ---------------------------------------------------------------------
    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = check.not_none(
            run.job_code_origin, "a run launched on Akash needs a code location origin"
        )
        self.start_maintainer()
        self._instance.report_engine_event(
            "Getting a GPU lease on Akash (a cold lease takes minutes)", run, cls=self.__class__
        )
        lease = self.leases.acquire(run.run_id)
        self._instance.add_run_tags(
            run.run_id,
            {
                DSEQ_TAG: lease.dseq,
                PROVIDER_TAG: lease.provider,
                WORKER_TAG: lease.worker_url,
                PRICE_TAG: f"{lease.usd_per_hour:.4f}",
            },
        )
        args = ExecuteRunArgs(
            job_origin=origin,
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
            set_exit_code_on_failure=True,
        )
        try:
            _worker(lease).start_run(run.run_id, serialize_value(args), lease.usd_per_hour)
        except (WorkerUnreachable, WorkerRefused):
            self.leases.release(run.run_id)
            raise
        self._instance.report_engine_event(
            f"Run started on Akash lease {lease.dseq} ({lease.provider}), "
            f"${lease.usd_per_hour:.3f} per GPU hour",
            run,
            cls=self.__class__,
        )

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        lease = _lease_of(run)
        if run is None or lease is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        try:
            _worker(lease).terminate(run_id)
        except WorkerRefused as error:
            if error.status != 404:
                raise
            # The worker never had it (or restarted): nothing runs, so it is canceled now.
            self._instance.report_run_canceled(run, message="run was not on the worker")
        self._account(run, lease)
        return True

    # ---- monitoring --------------------------------------------------------------------
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        lease = _lease_of(run)
        if lease is None:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, "no Akash lease recorded")
        if lease.state == "closed" or not self.leases.is_alive(lease):
            self._account(run, lease)
            reason = _fresh(lease).closed_reason or "closed"
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"Akash lease {lease.dseq} is gone ({reason})"
            )
        try:
            state = _worker(lease).run(run.run_id)
        except WorkerRefused as error:
            if error.status == 404:
                self._account(run, lease)
                return CheckRunHealthResult(
                    WorkerStatus.FAILED, f"the worker on lease {lease.dseq} lost the run"
                )
            raise
        # WorkerUnreachable propagates: a lease that is alive but silent may be a blip, and
        # monitoring must not fail a run on one (it fails it once the lease is gone, above).
        if state["state"] == "running":
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        self._account(run, lease, state["gpu_seconds"])
        if state["returncode"] == 0:
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"run worker on lease {lease.dseq} exited with code {state['returncode']}",
        )

    def _account(self, run: DagsterRun, lease: Lease, gpu_seconds: float | None = None) -> None:
        """Free the lease for others and record what the run cost (once)."""
        release_run(run.run_id)
        current = self._instance.get_run_by_id(run.run_id)
        if current is None or GPU_SECONDS_TAG in current.tags or gpu_seconds is None:
            return
        seconds = round(gpu_seconds, 3)  # the cost is of the seconds the tag shows
        self._instance.add_run_tags(
            run.run_id,
            {
                GPU_SECONDS_TAG: f"{seconds:.3f}",
                COST_TAG: f"{seconds * lease.usd_per_hour / 3600:.6f}",
            },
        )

    def account_finished(self, run: DagsterRun) -> None:
        """Called for runs that finished: record GPU seconds and cost, free the lease."""
        lease = _lease_of(run)
        if lease is None:
            return
        try:
            state = _worker(lease).run(run.run_id)
        except (WorkerUnreachable, WorkerRefused):
            state = {"gpu_seconds": None}
        self._account(run, lease, state["gpu_seconds"])

    def start_maintainer(self) -> None:
        """Idle closing, top-ups and finished-run accounting, in the launching process."""
        if self._maintainer is not None and self._maintainer.is_alive():
            return

        def loop() -> None:
            while not self._stop.wait(self.maintain_every_s):
                try:
                    for lease in read_leases():
                        for run_id in list(lease.runs):
                            run = self._instance.get_run_by_id(run_id)
                            if run is None or run.status in (
                                DagsterRunStatus.SUCCESS,
                                DagsterRunStatus.FAILURE,
                                DagsterRunStatus.CANCELED,
                            ):
                                self.account_finished(run) if run else release_run(run_id)
                    self.leases.maintain()
                except Exception as error:  # keep maintaining; the next pass may succeed
                    _log.warning("akash lease maintenance: %s: %s", type(error).__name__, error)

        self._maintainer = threading.Thread(target=loop, name="akash-leases", daemon=True)
        self._maintainer.start()

    def dispose(self) -> None:
        self._stop.set()


def _lease_of(run: DagsterRun | None) -> Lease | None:
    if run is None or DSEQ_TAG not in run.tags:
        return None
    return next((lease for lease in read_leases() if lease.dseq == run.tags[DSEQ_TAG]), None)


def _fresh(lease: Lease) -> Lease:
    return next((found for found in read_leases() if found.dseq == lease.dseq), lease)


def _worker(lease: Lease) -> WorkerClient:
    return WorkerClient(lease.worker_url, lease.secret)


class DelegatingRunLauncher(ConfiguredRunLauncher):
    """The instance's one launcher: GPU-pool runs to Akash, the rest to warm local run processes."""

    def __init__(
        self,
        akash: Mapping[str, Any] | None = None,
        local: Mapping[str, Any] | None = None,
        gpu_pool: str = "gpu",
    ) -> None:
        self.gpu_pool = gpu_pool
        self.local = WarmRunLauncher(**(local or {}))
        self.akash = AkashRunLauncher(**(akash or {}))
        super().__init__()

    @classmethod
    def config_type(cls) -> dict:
        return {
            "akash": Field(AkashRunLauncher.config_type(), is_required=False),
            "local": Field(WarmRunLauncher.config_type(), is_required=False),
            "gpu_pool": Field(StringSource, is_required=False, default_value="gpu"),
        }

    def register_instance(self, instance) -> None:
        super().register_instance(instance)
        self.local.register_instance(instance)
        self.akash.register_instance(instance)

    def _child(self, run: DagsterRun | None) -> RunLauncher:
        return (
            self.akash
            if run is not None and run.tags.get(LAUNCHER_TAG) == "akash"
            else (self.local)
        )

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        choice = run.tags.get(LAUNCHER_TAG)
        if choice not in (None, "akash", LOCAL_LAUNCHER):
            raise ValueError(
                f"{LAUNCHER_TAG}: must be 'akash' or '{LOCAL_LAUNCHER}', got {choice!r}"
            )
        if choice is None and uses_pool(self._instance, run, self.gpu_pool):
            if os.environ.get(API_KEY_ENV):
                choice = "akash"
            else:
                # No Akash account configured: GPU steps run here, as without this launcher.
                self._instance.report_engine_event(
                    f"GPU run launched locally: {API_KEY_ENV} is not set for the daemon",
                    run,
                    cls=self.__class__,
                )
        choice = choice or LOCAL_LAUNCHER
        self._instance.add_run_tags(run.run_id, {LAUNCHER_TAG: choice})
        child = self.akash if choice == "akash" else self.local
        child.launch_run(context)

    def terminate(self, run_id: str) -> bool:
        return self._child(self._instance.get_run_by_id(run_id)).terminate(run_id)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        return self._child(run).check_run_worker_health(run)

    @property
    def supports_resume_run(self) -> bool:
        return False

    def resume_run(self, context: ResumeRunContext) -> None:
        raise NotImplementedError(f"run {context.dagster_run.run_id}: {RESUME_REFUSED}")

    def dispose(self) -> None:
        self.akash.dispose()
        self.local.dispose()
