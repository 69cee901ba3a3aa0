"""Local runs that start in milliseconds: `WarmRunLauncher`, the instance's local run launcher.

Each run is forked from a warm process that has already loaded the code (the run forker,
gpu_jobs/run_forker.py: how it works and why is in its docstring). Run processes are detached,
each records its process in the `movie/worker` tag (host:pid:start time), so any process on this
host can check the run's health and terminate it. The forker and its runs do not inherit the
Akash Console API key: it stays with the daemon.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

from dagster import Array, DagsterRun, Field, StringSource, serialize_value

from gpu_jobs.run_forker import ForkerFailed, RunForker
from movie_assets.instance.launcher_base import LAUNCHER_TAG, LOCAL_LAUNCHER, ConfiguredRunLauncher
from resources.runtime.dagster_private import (
    CheckRunHealthResult,
    ExecuteRunArgs,
    LaunchRunContext,
    WorkerStatus,
)
from resources.runtime.processes import WORKER_TAG, process_token, token_dead, token_pid


class WarmRunLauncher(ConfiguredRunLauncher):
    """Runs on this host, forked from a warm process (see the module's docstring)."""

    def __init__(self, preload_modules: Sequence[str] = ()) -> None:
        self.forker = RunForker(preload_modules)
        super().__init__()

    @classmethod
    def config_type(cls) -> dict:
        return {
            "preload_modules": Field(Array(StringSource), is_required=False, default_value=[]),
        }

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        if run.job_code_origin is None:
            raise ForkerFailed(f"run {run.run_id} has no code origin to load its job from")
        args = ExecuteRunArgs(
            job_origin=run.job_code_origin,
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
            set_exit_code_on_failure=True,
        )
        pid = self.forker.start_run(serialize_value(args))
        try:
            # Recorded while the process waits: no health check can see the run without it.
            self._instance.add_run_tags(
                run.run_id, {WORKER_TAG: process_token(pid), LAUNCHER_TAG: LOCAL_LAUNCHER}
            )
        except BaseException:
            self.forker.release(pid, go=False)
            raise
        self.forker.release(pid)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        token = run.tags.get(WORKER_TAG) if run else None
        if run is None or token is None or run.is_finished:
            return False
        pid = token_pid(token)
        if pid is None or token_dead(token):
            return False  # another host's run, or its process is already gone
        self._instance.report_run_canceling(run)
        # Dagster's run worker turns SIGTERM into an interrupt: steps stop, the run is canceled.
        # The run leads its own process group, so its ffmpeg children get the signal too.
        os.killpg(pid, signal.SIGTERM)
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        token = run.tags.get(WORKER_TAG)
        if token is None:
            return CheckRunHealthResult(WorkerStatus.NOT_FOUND, "no run process recorded")
        if token_pid(token) is None:
            raise RuntimeError(f"run process {token} is on another host: cannot check it here")
        if token_dead(token):
            return CheckRunHealthResult(
                WorkerStatus.FAILED, f"the run's process ({token}) is gone: killed or crashed"
            )
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def dispose(self) -> None:
        self.forker.close()
