"""`up_to_date`: what a rebuild will redo, visible in the UI at once after an edit.

Dagster's own staleness reaches one level down an edit (an edited shot reads "Unsynced", its
segment, timeline and final video only once each parent has been rebuilt). The CLI's planning
(pending_work) already knows the whole downstream chain, so its answer is recorded as one
partitioned asset check per generated asset: a warning on every partition a rebuild will redo,
with why; a pass on the rest. It is recorded after `movie edit` and after every rebuild, and can
be re-evaluated from the UI (Checks tab, "Execute").
"""

import warnings

import dagster as dg

from movie_assets.orchestration.levels import UP_TO_DATE
from movie_assets.partitions import movie_key

warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def _evaluation(
    asset: str, partition: str, why: str | None, target=None
) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(asset),
        check_name=UP_TO_DATE,
        passed=why is None,
        severity=dg.AssetCheckSeverity.WARN,
        partition=partition,
        description=f"will be rebuilt: {why}" if why else "nothing to rebuild",
        metadata={"rebuild": why or "no"},
        target_materialization_data=target,
    )


def _marks_file(movie_id: str):
    from resources.runtime.settings import dagster_home

    return dagster_home() / "up_to_date" / f"{movie_id}.json"


def mark_pending(
    instance: dg.DagsterInstance, movie_id: str, pending: dict[str, dict[str, str]]
) -> int:
    """Warn on every partition in `pending`; pass the ones warned before that are no longer in
    it (a file per movie remembers them, so a clean build writes nothing). Returns warnings."""
    import json

    from resources.storage.store import atomic_write_bytes

    marks = _marks_file(movie_id)
    before = {tuple(row[:2]) for row in _read_marks(marks)}
    now = {(asset, partition) for asset, rows in pending.items() for partition in rows}
    for asset, partition in sorted(now - before):
        _report(instance, asset, partition, pending[asset][partition])
    for asset, partition in sorted(before - now):
        _report(instance, asset, partition, None)
    if now or before:
        # [asset, partition, why] per mark: the UI's summary of pending work reads the why.
        rows = sorted([asset, partition, pending[asset][partition]] for asset, partition in now)
        atomic_write_bytes(marks, json.dumps(rows).encode())
    return len(now)


def _read_marks(path) -> list[list[str]]:
    """The marks file's rows ([asset, partition] in older files, [asset, partition, why] now);
    an unreadable file counts as no marks."""
    import json

    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [list(map(str, row)) for row in rows if isinstance(row, list) and len(row) >= 2]


def pending_rows() -> dict[str, list[list[str]]]:
    """The marks of every movie that still exists and has pending work: {movie: [[asset,
    partition, why], ...]}. Reads a small file per movie and no Dagster storage, so the code
    location can describe it at load."""
    from resources.runtime.settings import dagster_home
    from resources.storage.projects import ProjectStore

    projects = ProjectStore()
    found: dict[str, list[list[str]]] = {}
    folder = dagster_home() / "up_to_date"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        movie_id = path.stem
        try:
            if not projects.exists(movie_id):
                continue
        except ValueError:
            continue
        rows = _read_marks(path)
        if rows:
            found[movie_id] = rows
    return found


def _cause(row: list[str]) -> str | None:
    """ "shot_image s01i0: shot_input has a new data version" for a partition that needs work
    itself; None for one only downstream of such a partition."""
    if len(row) < 3 or row[2].startswith("after "):
        return None
    return f"{row[0]} {row[1].split('|')[-1]}: {row[2]}"


def pending_summary(rows: dict[str, list[list[str]]] | None = None) -> dict[str, dict]:
    """{movie: {"partitions": n, "causes": [...]}} of the movies with pending work."""
    rows = pending_rows() if rows is None else rows
    return {
        movie_id: {
            "partitions": len(found),
            "causes": [c for c in map(_cause, found) if c],
        }
        for movie_id, found in rows.items()
    }


def pending_by_asset(rows: dict[str, list[list[str]]] | None = None) -> dict[str, str]:
    """{asset: "bees (1: shot_input has a new data version)"}: a line per asset with pending
    partitions, naming the movies, how many partitions and the first reason."""
    rows = pending_rows() if rows is None else rows
    per_asset: dict[str, dict[str, list[str]]] = {}
    for movie_id, found in rows.items():
        for row in found:
            per_asset.setdefault(row[0], {}).setdefault(movie_id, []).append(
                row[2] if len(row) > 2 else "stale"
            )
    return {
        asset: ", ".join(
            f"{movie_id} ({len(whys)}: {whys[0]})" for movie_id, whys in movies.items()
        )
        for asset, movies in per_asset.items()
    }


def marks_signature() -> tuple:
    """Changes whenever a marks file does (the UI reloads its descriptions then)."""
    from resources.runtime.settings import dagster_home

    folder = dagster_home() / "up_to_date"
    if not folder.is_dir():
        return ()
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def _report(instance: dg.DagsterInstance, asset: str, partition: str, why: str | None) -> None:
    """Record one mark, attached to the materialization it judges (in that run's event log).

    Dagster stores one runless check result per check and partition (a unique index over run id
    "" and the partition), so a second runless mark of the same partition would fail. A mark is a
    statement about the partition's latest materialization: recorded under that run's id, the
    storage keeps the newest mark per materialization (an upsert), and the check links to the
    materialization in the UI. A partition never built gets its one runless mark."""
    from dagster import DagsterEvent, DagsterEventType

    from resources.runtime.dagster_private import AssetCheckEvaluationTargetMaterializationData

    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    if not latest:
        from sqlalchemy.exc import IntegrityError

        try:
            instance.report_runless_asset_event(_evaluation(asset, partition, why))
        except IntegrityError:
            pass  # marked before, while still never built: that mark stands
        return
    record = latest[0]
    target = AssetCheckEvaluationTargetMaterializationData(
        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
    )
    run = instance.get_run_by_id(record.run_id)
    instance.report_dagster_event(
        DagsterEvent(
            event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
            event_specific_data=_evaluation(asset, partition, why, target),
            job_name=run.job_name if run else "__RUNLESS__",
        ),
        run_id=record.run_id,
    )


def refresh_marks(instance: dg.DagsterInstance, movie_id: str) -> dict[str, dict[str, str]]:
    """Plan as `movie regenerate --dry-run` does and record the answer; returns the plan."""
    from movie_assets.orchestration.builder import pending_work
    from resources.storage.projects import ProjectStore

    pending = pending_work(instance, movie_id, ProjectStore().load(movie_id))
    mark_pending(instance, movie_id, pending)
    return pending


def _up_to_date_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=UP_TO_DATE,
        partitions_def=asset.partitions_def,
        description="Warns when a rebuild of the movie will redo this partition (stale or "
        "missing, or downstream of something that is), as `movie regenerate --dry-run` plans.",
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        from movie_assets.orchestration.builder import pending_work
        from resources.storage.projects import ProjectStore

        partition = context.partition_key
        movie_id = movie_key(partition)
        pending = pending_work(context.instance, movie_id, ProjectStore().load(movie_id))
        why = pending.get(asset.key.to_user_string(), {}).get(partition)
        return dg.AssetCheckResult(
            passed=why is None,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"will be rebuilt: {why}" if why else "nothing to rebuild",
        )

    return _check


def up_to_date_checks(assets: list) -> list[dg.AssetChecksDefinition]:
    return [_up_to_date_check(a) for a in assets if isinstance(a, dg.AssetsDefinition)]
