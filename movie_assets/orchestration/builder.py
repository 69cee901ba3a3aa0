"""Building a movie against the project's Dagster instance, level by level.

A run covers one partitions definition, and in-process runs cannot share a process's threads, so
the fast path runs one in-process run per partition in a pool of worker processes. Every run and
materialization lands in the instance, so the UI shows them exactly as if the daemon had launched
them. Provider concurrency is limited per provider across all workers (resources/runtime/limits.py).

What to run is Dagster's answer, not ours: a planned partition is built when it is missing or
stale (CachingStaleStatusResolver), together with the assets after it in the same level.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import yaml
from filelock import FileLock

from movie_assets.instance.run_coordinator import LEVEL_TAG, REPOSITORY_LABEL, record_code_location
from movie_assets.orchestration.clip_fallbacks import RETRIED_WHEN_FALLEN_BACK, clip_fallbacks
from movie_assets.orchestration.code_location import MODULE, definitions
from movie_assets.orchestration.input_versions import SOURCE_VERSIONS
from movie_assets.orchestration.levels import LEVELS, quality_checks
from movie_assets.orchestration.stale_status import stale_resolver
from movie_assets.partitions import (
    ALL_SEGMENT_SLOTS,
    ALL_SHOT_SLOTS,
    MOVIE_TAG,
    planned_partitions,
    segment_partition,
    shot_partition,
)
from resources.domain.errors import (
    INVALID_INPUT,
    LOCAL_ENVIRONMENT,
    PROVIDER_PERMANENT,
    PROVIDER_TRANSIENT,
    environment_error_in_text,
)
from resources.runtime.dagster_private import DATA_VERSION_TAG, SQLITE_STORAGE_MODULE
from resources.runtime.logs import append_log
from resources.runtime.processes import WORKER_TAG, process_token, token_dead
from resources.runtime.settings import dagster_home, production_mode
from resources.runtime.sqlite_instance import close_keepers
from resources.storage.projects import MovieInputs, ProjectStore, document_digest
from resources.storage.scratch import clean_orphaned_scratch
from resources.storage.store import atomic_write_bytes, content_key

# Runs still log every event to the instance (the UI shows them); the terminal shows progress and
# one line per failure, never Dagster's stack dumps (those go to the log file).
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"
# MOVIE_MODE=production: PostgreSQL storage, the run queue and run monitoring.
PRODUCTION_YAML = DAGSTER_YAML.with_name("dagster.production.yaml")


# Instance plug-ins that moved (issue 17). dagster.yaml is copied into DAGSTER_HOME once, so a
# home made before the move still names the old modules; prepare_instance rewrites them there.
_MOVED_PLUGINS = [
    ("movie_assets.run_tags", "movie_assets.instance.run_coordinator"),  # persisted old name
    ("movie_assets.instance_storage", "movie_assets.instance.storage"),  # persisted old name
    ("gpu_jobs.launcher", "movie_assets.instance.launchers"),  # persisted old name
]


def _upgrade_config(config: Path) -> None:
    """Point an existing instance's dagster.yaml at the plug-ins' current modules, and give a
    local instance made before it had one the template's warm run launcher."""
    try:
        text = config.read_text()
    except FileNotFoundError:
        return
    upgraded = text
    for old, new in _MOVED_PLUGINS:
        upgraded = re.sub(rf"(?m)^(\s*module:\s*){re.escape(old)}\s*$", rf"\g<1>{new}", upgraded)
    if not production_mode() and "run_launcher" not in (yaml.safe_load(upgraded) or {}):
        # Without one, Dagster's default launcher starts a fresh Python per UI-launched run.
        launcher = {"run_launcher": yaml.safe_load(DAGSTER_YAML.read_text())["run_launcher"]}
        upgraded = upgraded.rstrip("\n") + "\n\n" + yaml.safe_dump(launcher, sort_keys=False)
    if upgraded != text:
        atomic_write_bytes(config, upgraded.encode())


# Marks an instance whose storage schemas exist; written last, under the init lock.
_INITIALISED = ".movie-initialised"


def prepare_instance() -> dg.DagsterInstance:
    """The project-local instance (DAGSTER_HOME, default MOVIE_HOME/dagster), made on first use.

    The first use creates the SQLite schemas; two processes doing that at once can stamp two
    alembic heads and break the folder for good, so creation happens under a file lock and every
    storage is touched before the lock is released. Scratch folders of dead processes go."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    _upgrade_config(home / "dagster.yaml")
    if (home / _INITIALISED).exists():
        instance = dg.DagsterInstance.get()
    else:
        with FileLock(str(home / ".init.lock")):
            config = home / "dagster.yaml"
            template = PRODUCTION_YAML if production_mode() else DAGSTER_YAML
            if not config.exists() and template.exists():
                atomic_write_bytes(config, template.read_bytes())
            instance = dg.DagsterInstance.get()
            _touch_storages(instance)
            atomic_write_bytes(home / _INITIALISED, b"ok\n")
    clean_orphaned_scratch()
    return instance


def _touch_storages(instance: dg.DagsterInstance) -> None:
    """One read from each storage, so each creates and stamps its schema now, under the lock."""
    instance.get_runs(limit=1)
    instance.get_asset_keys()
    instance.all_instigator_state()
    instance.get_dynamic_partitions("movie")


_ACTIVE = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs this machine started whose process is gone (kill -9, a crash, a
    power cut); returns their run ids. Live runs of concurrent commands are left alone."""
    reaped = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_ACTIVE)):
        token = run.tags.get(WORKER_TAG)
        if token and token_dead(token):
            instance.report_run_failed(
                run, f"the process that ran it ({token}) is gone: killed or crashed"
            )
            # A step killed inside the `gpu` pool never gave its slot back; without this the
            # next build's steps wait for it forever (the daemon's monitoring is not running).
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            reaped.append(run.run_id)
    return reaped


def register_movie(instance: dg.DagsterInstance, movie_id: str) -> None:
    # Check-then-add races between two commands; the lock keeps the key from being added twice.
    with FileLock(str(dagster_home() / ".partitions.lock")):
        if not instance.has_dynamic_partition("movie", movie_id):
            instance.add_dynamic_partitions("movie", [movie_id])


def observe_inputs(instance: dg.DagsterInstance, movie_id: str) -> None:
    """Record the current user inputs of one movie; changed ones make their dependents stale.

    Recorded as runless observations (the data version of every planned partition of every
    input source), so an edit adds no runs to the runs list. Skipped when the inputs
    (documents included) are what this instance last observed."""
    projects = ProjectStore()
    # Under the movie's lock: an edit landing meanwhile cannot be overtaken by older versions.
    with projects.locked(movie_id):
        _observe_locked(instance, movie_id, projects.load(movie_id))


def _observe_locked(instance: dg.DagsterInstance, movie_id: str, inputs: MovieInputs) -> None:
    fingerprint = content_key(
        inputs.model_dump(mode="json"), document_digest(inputs.request.documents)
    )
    marker = dagster_home() / "observed" / f"{movie_id}.sha256"
    if marker.exists() and marker.read_text() == fingerprint:
        return
    definitions()  # its input sources fill SOURCE_VERSIONS as they load
    for name, versions in SOURCE_VERSIONS.items():
        for partition, version in versions(movie_id, inputs).items():
            instance.report_runless_asset_event(
                dg.AssetObservation(
                    asset_key=name,
                    partition=partition,
                    tags={DATA_VERSION_TAG: version.value},
                )
            )
    atomic_write_bytes(marker, fingerprint.encode())


@dataclass
class PartitionWork:
    job: str
    level: str
    partition: str
    dims: dict[str, str] | None
    assets: list[str]
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class LevelPlan:
    job: str
    level: str
    work: list[PartitionWork]


# How a builder reports a level's runs: each partition as it finishes (with its error, or None),
# then the partitions that failed, with their errors.
OnDone = Callable[[PartitionWork, str | None], None]
Failures = list[tuple[PartitionWork, str]]


def report_finished(
    finished: Iterable[tuple[PartitionWork, str | None]], on_done: OnDone
) -> Failures:
    """Pass each finished partition to `on_done` as it comes; returns the failed ones."""
    failures: Failures = []
    for work, error in finished:
        on_done(work, error)
        if error:
            failures.append((work, error))
    return failures


def _movie_keys(movie_id: str) -> list[str]:
    """Every partition key of the movie, of every level and slot: a movie-level asset reads
    every segment slot, planned or not."""
    return [
        movie_id,
        *(str(segment_partition(movie_id, slot)) for slot in ALL_SEGMENT_SLOTS),
        *(str(shot_partition(movie_id, slot)) for slot in ALL_SHOT_SLOTS),
    ]


def damaged_artifacts(resolver, asset: str, key: str | dg.MultiPartitionKey) -> dict[str, str]:
    """{file name: "missing" | "corrupt"} for the files of the partition's latest
    materialization that the store cannot give back intact (a corrupt one is quarantined).
    Reads the record the resolver already fetched, and the store's remembered checks, so a
    project with nothing damaged pays a stat per file."""
    from movie_assets.io_manager import artifacts_from_metadata
    from resources.runtime.dagster_private import AssetKeyPartitionKey

    event = resolver._get_latest_data_version_event(  # cached by the resolver: no query
        key=AssetKeyPartitionKey(dg.AssetKey(asset), str(key))
    )
    found = artifacts_from_metadata(dict(event.metadata)) if event is not None else None
    if found is None:
        return {}
    # One store per planning pass (an S3 store holds a client), kept on the resolver.
    store = getattr(resolver, "movie_artifact_store", None)
    if store is None:
        from movie_assets.producer_resources import artifact_store

        store = resolver.movie_artifact_store = artifact_store(os.environ)
    states = {name: store.check(ref) for name, ref in found.files.items()}
    return {name: state for name, state in states.items() if state != "ok"}


def _needs_work(resolver, asset: str, key: str | dg.MultiPartitionKey) -> str | None:
    """Why a partition must be built ("missing", its stale root causes, or a damaged
    artifact), or None if fresh."""
    from resources.runtime.dagster_private import StaleStatus

    asset_key = dg.AssetKey(asset)
    status = resolver.get_status(asset_key, key)
    if status == StaleStatus.MISSING:
        return "missing"
    if status == StaleStatus.STALE:
        causes = resolver.get_stale_root_causes(asset_key, key)
        return (
            "; ".join(f"{c.asset_key.to_user_string()} {c.reason}" for c in causes[:3]) or "stale"
        )
    damaged = damaged_artifacts(resolver, asset, key)
    if damaged:
        # Treated as missing: rebuilding re-makes exactly these files (a cache hit if an
        # intact copy is elsewhere in the store), then whatever reads them follows.
        return "artifact " + ", ".join(f"{n} {state}" for n, state in sorted(damaged.items()))
    if asset in RETRIED_WHEN_FALLEN_BACK:
        # Fresh to Dagster, but it stood in for a failed clip: the next build retries it.
        fell_back = clip_fallbacks(resolver.instance, [str(key)])
        if fell_back:
            return f"fell back to stills ({next(iter(fell_back.values()))[:80]}): retry"
    return None


def plan_level(
    instance: dg.DagsterInstance,
    movie_id: str,
    inputs: MovieInputs,
    job: str,
    candidates: dict[str, dict[str, str]],
) -> LevelPlan:
    """Partitions of one level that are missing or stale now, with why. Only `candidates`
    (from pending_work) are checked: nothing else can need work, and each check costs a query."""
    defs = definitions()

    name, level, keys = next(item for item in LEVELS if item[0] == job)
    resolver = stale_resolver(instance, _movie_keys(movie_id))
    graph = defs.resolve_asset_graph()
    parents = {asset: graph.get(dg.AssetKey(asset)).parent_keys for asset in keys}
    work = []
    for key in planned_partitions(movie_id, inputs.request, level):
        if not any(str(key) in candidates.get(asset, {}) for asset in keys):
            continue
        needing: dict[str, str] = {}
        for asset in keys:
            why = _needs_work(resolver, asset, key)
            if why:
                needing[asset] = why
            elif any(parent.to_user_string() in needing for parent in parents[asset]):
                # Reads an asset rebuilt in this run: rebuild too (free if its inputs are same).
                needing[asset] = "follows an upstream rebuild in this level"
        if needing:
            dims = dict(key.keys_by_dimension) if isinstance(key, dg.MultiPartitionKey) else None
            work.append(PartitionWork(job, level, str(key), dims, list(needing), needing))
    return LevelPlan(job, level, work)


def _children_in_plan(
    child_level: str, parent_level: str, partition: str, movie_id: str, inputs: MovieInputs
) -> list[str]:
    """Planned partitions of a child level that read `partition` of the parent level."""
    planned = [str(k) for k in planned_partitions(movie_id, inputs.request, child_level)]
    if child_level == "movie":
        return planned
    slot = partition.split("|")[-1] if "|" in partition else ""
    if parent_level == "movie":
        return planned
    if child_level == parent_level:
        return [partition]
    if child_level == "segment":  # a shot feeds its segment
        return [p for p in planned if p.endswith("|" + slot[:3])]
    return [p for p in planned if p.split("|")[-1][:3] == slot]  # a segment feeds its shots


def pending_work(
    instance: dg.DagsterInstance, movie_id: str, inputs: MovieInputs
) -> dict[str, dict[str, str]]:
    """Everything a rebuild may redo: planned partitions that are missing or stale, and every
    planned partition downstream of them. {asset: {partition: why}}, in build order."""

    defs = definitions()

    resolver = stale_resolver(instance, _movie_keys(movie_id))
    graph = defs.resolve_asset_graph()
    level_of = {asset: level for _, level, assets in LEVELS for asset in assets}
    found: dict[tuple[str, str], str] = {}
    for _, level, assets in LEVELS:
        for key in planned_partitions(movie_id, inputs.request, level):
            for asset in assets:
                why = _needs_work(resolver, asset, key)
                if why:
                    found[(asset, str(key))] = why
    queue = list(found)
    while queue:
        asset, partition = queue.pop()
        for child in graph.get(dg.AssetKey(asset)).child_keys:
            child_name = child.to_user_string()
            if child_name not in level_of:
                continue
            for child_partition in _children_in_plan(
                level_of[child_name], level_of[asset], partition, movie_id, inputs
            ):
                if (child_name, child_partition) not in found:
                    found[(child_name, child_partition)] = f"after {asset}"
                    queue.append((child_name, child_partition))
    ordered: dict[str, dict[str, str]] = {}
    for _, _, assets in LEVELS:
        for asset in assets:
            rows = {p: why for (a, p), why in found.items() if a == asset}
            if rows:
                ordered[asset] = dict(sorted(rows.items()))
    return ordered


# ---------------------------------------------------------------------------------------------
# Worker side


def _worker_context() -> multiprocessing.context.BaseContext:
    """How workers start. On Linux they fork from this process, which has already imported
    Dagster and loaded the code location to plan the build: a worker costs nothing to start.
    A spawned worker spends ~2 CPU-s importing them, and a forkserver pays that once per build.

    Forking is safe only while no other thread could hold a lock the child would need; the one
    thread this process may have, the signal receiver (interrupts.py), holds none while it
    waits. With any other thread alive, or off Linux (macOS frameworks are not fork-safe), the
    workers come from a forkserver that imports the code location once, or are spawned."""
    from movie_assets.orchestration.interrupts import RECEIVER_THREAD

    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if sys.platform == "linux" and all(t.name == RECEIVER_THREAD for t in others):
        definitions()  # loaded before the fork, so no worker loads it again
        return multiprocessing.get_context("fork")
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Also this process's main script (a worker would import it again to prepare) and the
    # local instance's storage modules (each worker opens the instance: ~0.4 CPU-s of imports).
    context.set_forkserver_preload(["__main__", MODULE, SQLITE_STORAGE_MODULE])
    return context


def _stop_forkserver() -> None:
    """Stop the forkserver and wait for it: the next pool's server imports the code under the
    environment of its own time, and the workers' CPU time counts among this process's children
    (as spawned workers' did). `_stop` is the standard library's own (its tests use it); there
    is no public way, and without it the server only ends with this process."""
    module = getattr(multiprocessing, "forkserver", None)  # imported once a pool has used it
    stop = getattr(getattr(module, "_forkserver", None), "_stop", None)
    if stop is not None:
        stop()


def _worker_init(env: dict[str, str]) -> None:
    os.environ.update(env)
    from movie_assets.orchestration.interrupts import install_worker
    from resources.runtime.secrets import install_all

    install_worker()  # Ctrl-C: the running run fails as interrupted; no traceback here
    install_all(streams=True)
    definitions()  # load the code location once per worker


def _ready() -> int:
    return os.getpid()


_INSTANCES: dict[tuple[int, str], dg.DagsterInstance] = {}


def _process_instance() -> dg.DagsterInstance:
    """This process's instance, opened once: opening one checks each storage's schema (about
    0.4 CPU-s), and a worker runs many partitions."""
    key = (os.getpid(), os.environ.get("DAGSTER_HOME", ""))
    if key not in _INSTANCES:
        _INSTANCES[key] = dg.DagsterInstance.get()
    return _INSTANCES[key]


def run_partition(work: PartitionWork, movie_id: str) -> tuple[PartitionWork, str | None]:
    """Execute one partition's run in this process; returns an error message on failure."""
    from movie_assets.orchestration.interrupts import MESSAGE, interrupted

    if interrupted():  # the build is stopping: start nothing more
        return work, MESSAGE
    defs = definitions()

    partition_key: str | dg.MultiPartitionKey = (
        dg.MultiPartitionKey(work.dims) if work.dims else work.partition
    )
    job = defs.resolve_job_def(work.job).get_subset(
        asset_selection={dg.AssetKey(a) for a in work.assets},
        asset_check_selection=quality_checks(work.assets),
    )
    instance = _process_instance()
    from movie_assets.orchestration.interrupts import run_executing

    with run_executing():  # an interrupt also ends what the run started (ffmpeg)
        result = job.execute_in_process(
            partition_key=partition_key,
            instance=instance,
            tags={
                **REPOSITORY_LABEL,
                MOVIE_TAG: movie_id,
                LEVEL_TAG: work.job,
                WORKER_TAG: process_token(),
                # Why this run happened, for `movie history`; tag values must stay short.
                "movie/reason": "; ".join(f"{a}: {r}" for a, r in work.reasons.items())[:900],
            },
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
    record_code_location(instance, result.run_id)
    close_keepers()  # this run's event-log shard is complete: checkpointed, no WAL left
    if result.success:
        return work, None
    errors = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            if error is not None:
                append_log(f"run {result.run_id} {event.step_key} failed", error.to_string())
            errors.append(f"{event.step_key}: {failure_line(error)}")
    return work, "; ".join(errors) or "run failed"


def failure_line(error) -> str:
    """One line naming the real cause of a step failure (a SerializableErrorInfo): the deepest
    cause, so "Exceeded max_retries" or Dagster's wrapper never hide what actually happened.
    Secrets are masked: the line goes to terminals, batch reports and the UI."""
    from resources.runtime.secrets import redact

    return redact(_failure_line(error))


def _failure_line(error) -> str:
    if error is None:
        return "unknown error"
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or error.context
    # Our own failures say their class first ("provider permanent: ..."): prefer the outermost.
    for item in chain:
        text = item.message.strip()
        starts = [text.find(f"{kind}: ") for kind in _KINDS if f"{kind}: " in text]
        if starts:
            return _one_line(text[min(starts) :])
    root = chain[-1]
    classed = _classed_line(root.cls_name or "", root.message.strip())
    if classed is not None:
        return classed
    message = _one_line(root.message.strip())
    found = environment_error_in_text(message)
    if found is not None:
        return found.describe()
    return message if message.startswith(root.cls_name or "") else f"{root.cls_name}: {message}"


_KINDS = {INVALID_INPUT, PROVIDER_TRANSIENT, PROVIDER_PERMANENT, LOCAL_ENVIRONMENT}
# Errors raised outside explained_failures (in assets without a retry policy), by class name:
# the same classes resources/errors.classify gives them.
_LOCAL_CLASSES = {
    "ArtifactMissing",
    "ArtifactCorrupt",
    "DamagedArtifact",
    "UnreadableData",
    "MissingFile",
    "LocalEnvironmentError",
}


def _classed_line(cls_name: str, message: str) -> str | None:
    """The one line of a root cause we can classify by its class name, or None."""
    from resources.domain.errors import REPAIR_ADVICE

    first = message.splitlines()[0] if message else ""
    detail = first.split(": ", 1)[1] if ": " in first else first
    if cls_name == "ValidationError":
        # Only the first line ("1 validation error for Timeline"): the rest quotes stored bytes.
        return f"{LOCAL_ENVIRONMENT}: stored data does not parse ({detail}); {REPAIR_ADVICE}"
    if cls_name in ("JSONDecodeError", "UnicodeDecodeError"):
        what = _one_line(detail)
        return f"{LOCAL_ENVIRONMENT}: stored data is not valid ({what}); {REPAIR_ADVICE}"
    if cls_name == "FileNotFoundError":
        return _one_line(
            f"{LOCAL_ENVIRONMENT}: {detail}; if it was a stored artifact, {REPAIR_ADVICE}"
        )
    if cls_name in _LOCAL_CLASSES:
        return _one_line(f"{LOCAL_ENVIRONMENT}: {' '.join(message.split(': ', 1)[-1].split())}")
    if cls_name in ("ValueError", "InvalidInput"):
        return _one_line(f"{INVALID_INPUT}: {' '.join(message.split(': ', 1)[-1].split())}")
    return None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Builder:
    """Runs level plans on a pool of worker processes, reporting progress through callbacks."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else max(2, min(4, os.cpu_count() or 2))
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Builder:
        if self.workers > 0:
            env = {k: os.environ[k] for k in ("DAGSTER_HOME", "MOVIE_HOME") if k in os.environ}
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=_worker_context(),
                initializer=_worker_init,
                initargs=(env,),
            )
            from movie_assets.orchestration.interrupts import children_ignore_ctrl_c

            # Start every worker now, so loading the code location overlaps the planning; they
            # start with Ctrl-C blocked (a worker stops through its run, never with a trace).
            with children_ignore_ctrl_c():
                for _ in range(self.workers):
                    self._pool.submit(_ready)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is not None and isinstance(exc, KeyboardInterrupt):
            self._stop_interrupted(exc)
        elif self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            _stop_forkserver()

    def _stop_interrupted(self, exc: BaseException) -> None:
        """Ctrl-C or SIGTERM: the workers' running runs fail as interrupted, nothing new
        starts, a worker that does not stop in time is killed with what it started, and every
        run of this build still marked active is marked canceled."""
        import signal
        import threading

        from movie_assets.orchestration.interrupts import NAMES, interrupted, stop_processes

        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C: no trace
                signal.signal(number, signal.SIG_IGN)
        tokens = {process_token()}
        if self._pool is not None:
            pids = list(getattr(self._pool, "_processes", None) or {})
            tokens |= {process_token(pid) for pid in pids}
            self._pool.shutdown(wait=False, cancel_futures=True)
            stop_processes(pids)
        signum = getattr(exc, "signum", None) or interrupted()
        mark_interrupted(dg.DagsterInstance.get(), tokens, NAMES.get(signum, "Ctrl-C"))

    def run(self, plan: LevelPlan, movie_id: str, on_done: OnDone) -> Failures:
        if self._pool is None:
            return report_finished((_in_process(w, movie_id) for w in plan.work), on_done)
        futures = [self._pool.submit(run_partition, w, movie_id) for w in plan.work]
        return report_finished((f.result() for f in as_completed(futures)), on_done)


def _in_process(work: PartitionWork, movie_id: str) -> tuple[PartitionWork, str | None]:
    """A run in the CLI's own process. Dagster holds Ctrl-C while the run executes (the run
    fails as interrupted); the interrupt is raised here once the run has ended."""
    from movie_assets.orchestration.interrupts import children_ignore_ctrl_c, raise_if_interrupted

    raise_if_interrupted()
    with children_ignore_ctrl_c():
        done = run_partition(work, movie_id)
    raise_if_interrupted()
    return done


def mark_interrupted(instance: dg.DagsterInstance, tokens: set[str], how: str) -> list[str]:
    """Mark canceled the runs that processes `tokens` were executing when the build was
    interrupted; returns their ids."""
    marked = []
    for run in instance.get_runs(
        filters=dg.RunsFilter(statuses=[*_ACTIVE, dg.DagsterRunStatus.NOT_STARTED])
    ):
        if run.tags.get(WORKER_TAG) in tokens:
            instance.report_run_canceled(
                run, f"interrupted ({how}): run the same command again to resume"
            )
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            marked.append(run.run_id)
    return marked


# (job, its plan or None when the level is up to date) -> called once per finished partition.
LevelFollower = Callable[[str, "LevelPlan | None"], OnDone]


def build_levels(
    instance: dg.DagsterInstance,
    movie_id: str,
    inputs: MovieInputs,
    pending: dict[str, dict[str, str]],
    builder,
    follow: LevelFollower,
) -> Failures:
    """Run a movie's pending work level by level, each level after the one before, with any
    builder (local processes or the run queue); stops at the first level with failures and
    returns them. The CLI's generate/regenerate and the UI's regenerate_movie job share it."""
    for job, _, assets in LEVELS:
        has_work = any(pending.get(asset) for asset in assets)
        plan = plan_level(instance, movie_id, inputs, job, pending) if has_work else None
        on_done = follow(job, plan)
        if plan is None or not plan.work:
            continue
        failures = builder.run(plan, movie_id, on_done)
        if failures:
            return failures
    return []
