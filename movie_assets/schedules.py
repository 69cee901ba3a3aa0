"""Schedules: named batches at a cron time, and the nightly rebuild of whatever is stale.

Each batch file with a `schedule:` section in MOVIE_HOME/batches/scheduled becomes a schedule
`batch_<name>` when the code location loads (reload it in the UI after adding one). The file is
read again at every tick, so a feed row takes that day's entry and an edited row takes effect.
`rebuild_stale_nightly` (MOVIE_NIGHTLY_CRON, default 02:00 in MOVIE_TIMEZONE, default UTC)
brings every movie up to date in one run, so edits made during the day are built once, together.
All start stopped: turn them on in the UI (Automation), as with any Dagster schedule.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from pathlib import Path

import dagster as dg

from movie_assets.assets.batches import NIGHTLY, build_batch, queue_batch, validation_context
from movie_assets.partitions import batch_partitions
from resources.domain.batch_files import BatchFileError, load_batch, scheduled_dir

log = logging.getLogger(__name__)


def schedule_name(batch_name: str) -> str:
    return "batch_" + re.sub(r"[^A-Za-z0-9_]", "_", batch_name)


def batch_schedule(path: Path) -> dg.ScheduleDefinition | None:
    """The schedule of one scheduled batch file; None (with a warning) if it has none."""
    try:
        batch = load_batch(path)
    except (BatchFileError, OSError) as error:
        log.warning("scheduled batch %s is skipped: %s", path.name, error)
        return None
    if batch.schedule is None:
        log.warning("scheduled batch %s has no `schedule:` section; skipped", path.name)
        return None

    @dg.schedule(
        name=schedule_name(batch.name),
        cron_schedule=batch.schedule.cron,
        execution_timezone=batch.schedule.timezone,
        job=build_batch,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Builds batch {batch.name!r} from {path}",
    )
    def _tick(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        try:
            current = load_batch(path, context=validation_context())
        except (BatchFileError, OSError) as error:
            return dg.SkipReason(f"{path.name} cannot be read as a batch now: {error}")
        for problem in current.rejected:
            context.log.warning(f"{path.name}: {problem}")
        request = queue_batch(context.instance, current)
        return request.with_replaced_attrs(run_key=f"{current.name}-{_tick_time(context)}")

    return _tick


def _tick_time(context: dg.ScheduleEvaluationContext) -> str:
    """The tick's time as a run key part: one run per tick, however often it is evaluated."""
    when = context.scheduled_execution_time or datetime.datetime.now(datetime.UTC)
    return f"{when:%Y%m%dT%H%M}"


def scheduled_batches(folder: Path | None = None) -> list[dg.ScheduleDefinition]:
    folder = folder or scheduled_dir()
    if not folder.is_dir():
        return []
    schedules: dict[str, dg.ScheduleDefinition] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".yaml", ".yml", ".csv"):
            continue
        found = batch_schedule(path)
        if found is None:
            continue
        if found.name in schedules:
            log.warning("scheduled batch %s repeats schedule %s; skipped", path.name, found.name)
            continue
        schedules[found.name] = found
    return list(schedules.values())


@dg.schedule(
    name="rebuild_stale_nightly",
    cron_schedule=os.environ.get("MOVIE_NIGHTLY_CRON", "0 2 * * *"),
    execution_timezone=os.environ.get("MOVIE_TIMEZONE", "UTC"),
    job=build_batch,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Rebuilds every movie's stale or missing partitions (and what follows) at night.",
)
def rebuild_stale_nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    if not context.instance.has_dynamic_partition(batch_partitions.name, NIGHTLY):
        context.instance.add_dynamic_partitions(batch_partitions.name, [NIGHTLY])
    return dg.RunRequest(
        partition_key=NIGHTLY,
        run_key=f"{NIGHTLY}-{_tick_time(context)}",
    )
