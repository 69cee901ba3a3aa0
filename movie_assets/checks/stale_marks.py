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
from movie_assets.orchestration.pending_marks import marks_file, read_marks
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


def mark_pending(
    instance: dg.DagsterInstance, movie_id: str, pending: dict[str, dict[str, str]]
) -> int:
    """Warn on every partition in `pending`; pass the ones warned before that are no longer in
    it (a file per movie remembers them, so a clean build writes nothing). Returns warnings."""
    import json

    from resources.storage.store import atomic_write_bytes

    marks = marks_file(movie_id)
    before = {tuple(row[:2]) for row in read_marks(marks)}
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
