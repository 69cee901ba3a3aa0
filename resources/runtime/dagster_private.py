"""Every private Dagster name this project uses, in one place, each with why there is no public one.

Dagster 1.13.27 (pinned in pyproject). Modules elsewhere import these names from here, never
from `dagster._...`; a Dagster upgrade checks this file. Names that `import dagster` has already
loaded are imported at the top (free); the few that would load more are loaded on first use
(module `__getattr__`), so the code location and the CLI start no slower.
"""

from __future__ import annotations

import importlib
from typing import Any

# Run launchers and the run coordinator are instance plug-ins; Dagster has no public base
# class or context types for them (movie_assets/instance/).
from dagster._core.launcher.base import (
    CheckRunHealthResult,
    LaunchRunContext,
    ResumeRunContext,
    RunLauncher,
    WorkerStatus,
)

# Instance plug-ins configured from dagster.yaml implement ConfigurableClass (no public export).
from dagster._serdes import ConfigurableClass, ConfigurableClassData

# The invariant helpers Dagster's own launchers use (check.not_none on a run's origin).
import dagster._check as check

# Run tags Dagster itself reads (the UI lists runs by repository label; data versions on events).
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from dagster._core.definitions.data_version import (
    DATA_VERSION_TAG,
    INPUT_EVENT_POINTER_TAG_PREFIX,
    CachingStaleStatusResolver,  # per-partition staleness: the public API is asset-wide only
    StaleStatus,
)

# Per-partition staleness planning (the builder): the asset graph view and its time context.
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._time import get_current_datetime

# Recording runless check evaluations and observations tied to a materialization (stale marks,
# migration import): only the private event types carry the target materialization.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.events import AssetObservationData, StepMaterializationData
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

# Reading a partition's check evaluations by partition key (quality checks).
from dagster._core.event_api import PartitionKeyFilter

# Creating runs from the code server's job snapshot (the queued builder) and giving runs
# launched outside the UI the code origin the UI needs (the run coordinator).
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

# A cron string check for batch schedules, the same Dagster's schedules apply.
from dagster._utils.schedules import is_valid_cron_string

# The forked run process installs Dagster's own interrupt handling, as `dagster api execute_run`.
from dagster._utils.interrupts import setup_interrupt_handlers

# The local instance's SQLite storages name sqlalchemy's create_engine at module level; the
# runtime makes them reuse one engine per database (resources/runtime/sqlite_instance.py) when
# an instance first opens its storage (InstanceRef.storage), since they load ~0.7 s of modules.
from dagster._core.instance.ref import InstanceRef

# What a local instance loads to open its storage; build workers preload it (builder.py).
SQLITE_STORAGE_MODULE = "dagster._core.storage.sqlite_storage"
SQLITE_STORAGE_MODULES = (
    "dagster._core.storage.event_log.sqlite.sqlite_event_log",
    "dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log",
    "dagster._core.storage.runs.sqlite.sqlite_run_storage",
    "dagster._core.storage.schedules.sqlite.sqlite_schedule_storage",
)

# Loaded on first use: each would import more than `import dagster` does.
_LAZY = {
    # The workspace (code server) the queued builder creates runs through.
    "WorkspaceProcessContext": "dagster._core.workspace.context",
    "WorkspaceFileTarget": "dagster._core.workspace.load_target",
    # What a launcher passes to the run process (`dagster api execute_run`'s argument).
    "ExecuteRunArgs": "dagster._grpc.types",
    # The body of `dagster api execute_run`, run in a forked process (gpu_jobs/run_forker.py).
    "execute_run_command": "dagster._cli.api",
    # The instance's run methods, wrapped to redact secrets in run tags (runtime/secrets.py).
    "RunDomain": "dagster._core.instance.runs.run_domain",
}
# Also private, named as strings: `dagster._cli.main` (movie ui starts the webserver and daemon
# with it) and `dagster._cli.api` (the run forker preloads it).


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = [
    "SQLITE_STORAGE_MODULE",
    "SQLITE_STORAGE_MODULES",
    "InstanceRef",
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetGraphView",
    "AssetKeyPartitionKey",
    "AssetObservationData",
    "CachingStaleStatusResolver",
    "CheckRunHealthResult",
    "ConfigurableClass",
    "ConfigurableClassData",
    "DATA_VERSION_TAG",
    "INPUT_EVENT_POINTER_TAG_PREFIX",
    "InProcessCodeLocationOrigin",
    "JobSubsetSelector",
    "LaunchRunContext",
    "LoadableTargetOrigin",
    "PartitionKeyFilter",
    "REPOSITORY_LABEL_TAG",
    "RUNLESS_JOB_NAME",
    "RUNLESS_RUN_ID",
    "RemoteJobOrigin",
    "RemoteRepositoryOrigin",
    "ResumeRunContext",
    "RunLauncher",
    "SINGLETON_REPOSITORY_NAME",
    "StaleStatus",
    "StepMaterializationData",
    "TemporalContext",
    "WorkerStatus",
    "check",
    "get_current_datetime",
    "is_valid_cron_string",
    "setup_interrupt_handlers",
    *_LAZY,
]
