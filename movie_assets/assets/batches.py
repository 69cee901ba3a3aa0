"""Batches in Dagster: the `batch_report` asset (one partition per named batch) whose run builds
the batch's movies, the `build_batch` job, and the `batch_inbox` sensor that queues batch files
dropped into the watched folder (MOVIE_HOME/batches/inbox, or MOVIE_BATCH_INBOX).

The sensor's cursor holds the content hashes of the files it has taken, so dropping the same file
again (under any name) queues nothing; a changed file is a new batch version. A file that is not
a batch at all is refused with the reason in the sensor's log and in MOVIE_HOME/batches/rejected.
"""

import hashlib
import os
import time
from pathlib import Path

import dagster as dg
from pydantic import BaseModel, Field

from movie_assets.assets.previews import image_markdown
from movie_assets.assets.producer_steps import Step, artifact_asset, artifact_output, md_escape
from movie_assets.io_manager import Artifacts
from movie_assets.orchestration.batch_runs import (
    BatchReport,
    all_movie_targets,
    batch_targets,
    queue_static_rows,
    run_batch,
)
from movie_assets.partitions import batch_partitions
from resources.domain.batch_files import (
    BatchFile,
    BatchFileError,
    BatchStore,
    inbox_dir,
    load_batch,
)
from resources.domain.budget import Budget
from resources.media.contact_sheet import tile_images
from resources.producers.images.generators import ImageGenerator
from resources.producers.speech.text_to_speech import TextToSpeech
from resources.producers.text.language_models import LanguageModel
from resources.storage.store import ArtifactStore

# The nightly rebuild of stale movies reports as this batch.
NIGHTLY = "nightly-stale"
BATCH_SHA_TAG = "movie/batch_sha256"
BATCH_FILES = {".yaml", ".yml", ".csv"}
# A file younger than this may still be being written: take it on a later tick.
SETTLE_S = 1.0
CURSOR_LIMIT = 1000


class BatchSettings(dg.ConfigurableResource):
    """Limits every batch run works under (a batch file adds its own budget_usd)."""

    daily_budget_usd: float | None = Field(default=None, gt=0)
    timezone: str = "UTC"

    @classmethod
    def from_env(cls) -> "BatchSettings":
        daily = os.environ.get("MOVIE_DAILY_BUDGET_USD", "").strip()
        try:
            return cls(
                daily_budget_usd=float(daily) if daily else None,
                timezone=os.environ.get("MOVIE_TIMEZONE", "UTC"),
            )
        except ValueError as error:
            raise ValueError(
                f"MOVIE_DAILY_BUDGET_USD must be a positive number of USD, got {daily!r}"
            ) from error


def validation_context() -> dict:
    """Rows are checked against the chosen TTS's voices, as `movie generate` checks --voice."""
    from movie_assets.producer_resources import producer_resources

    return {"voices": producer_resources()["tts"].voices()}


def queue_batch(instance: dg.DagsterInstance, batch: BatchFile) -> dg.RunRequest:
    """Keep this version of the batch, add its partitions and saved movies, and ask for its run."""
    BatchStore().save(batch)
    if not instance.has_dynamic_partition(batch_partitions.name, batch.name):
        instance.add_dynamic_partitions(batch_partitions.name, [batch.name])
    queue_static_rows(instance, batch)
    return dg.RunRequest(
        partition_key=batch.name,
        tags={BATCH_SHA_TAG: batch.sha256},
    )


@artifact_asset(
    partitions_def=batch_partitions,
    group_name="batches",
    kinds={"batch"},
    description=(
        "Builds the batch's movies in order under its budget, then reports each movie's status, "
        "length, cost and output, with a contact sheet of their thumbnails."
    ),
)
def batch_report(
    step: Step,
    batch_settings: BatchSettings,
    llm: LanguageModel,
    tts: TextToSpeech,
    images: ImageGenerator,
) -> dg.Output[Artifacts]:
    context, store = step.context, step.store
    name = context.partition_key
    producers = {"llm": llm, "tts": tts, "images": images, "store": store}
    limits = {"daily_usd": batch_settings.daily_budget_usd, "timezone": batch_settings.timezone}
    if name == NIGHTLY:
        report = run_batch(
            name,
            all_movie_targets(),
            budget=Budget(**limits),
            producers=producers,
            log=context.log.info,
        )
    else:
        try:
            batch = BatchStore().load(name, context.run.tags.get(BATCH_SHA_TAG))
        except (FileNotFoundError, ValueError) as error:
            raise dg.Failure(f"batch {name!r}: {error}; drop its file into the inbox") from error
        for problem in batch.rejected:
            context.log.warning(f"{batch.source}: {problem}")
        budget = Budget(batch_usd=batch.budget_usd, **limits)
        report = run_batch(
            name,
            batch_targets(batch),
            budget=budget,
            producers=producers,
            log=context.log.info,
            sha256=batch.sha256,
            rejected=batch.rejected,
        )
    return report_output(report, store)


def report_output(report: BatchReport, store: ArtifactStore) -> dg.Output[Artifacts]:
    files = {"main": store.put_bytes(report.model_dump_json(indent=2).encode(), ".json")}
    thumbnails = [store.local_path(m.thumbnail) for m in report.movies if m.thumbnail]
    extra: dict = {}
    if thumbnails:
        files["contact_sheet"] = store.make(".jpg", lambda out: thumbnail_sheet(thumbnails, out))
        extra["contact_sheet"] = image_markdown(files["contact_sheet"], "the batch's thumbnails")
    return artifact_output(
        files,
        extra={
            "movies": dg.MetadataValue.md(movies_markdown(report)),
            "built": report.count("built"),
            "up_to_date": report.count("up to date"),
            "skipped": report.count("skipped"),
            "stopped": report.count("stopped"),
            "failed": report.count("failed"),
            "rejected_rows": dg.MetadataValue.md(
                "\n".join(f"- {md_escape(str(r))}" for r in report.rejected) or "none"
            ),
            "cost_usd": round(report.cost_usd, 6),
            "budget_usd": report.budget_usd if report.budget_usd is not None else "none",
            "batch_sha256": report.sha256 or "none",
            **extra,
        },
    )


def movies_markdown(report: BatchReport) -> str:
    lines = [
        "| line | movie | status | length | build | cost | output | reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in report.movies:
        cells = [
            str(m.line) if m.line is not None else "",
            md_escape(m.movie_id or ""),
            m.status,
            f"{m.duration_s} s" if m.duration_s else "",
            f"{m.build_s:.0f} s",
            f"${m.cost_usd:.4f}",
            md_escape(m.output_uri or ""),
            md_escape(m.reason),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def thumbnail_sheet(paths: list[Path], out_path: Path, tile_height: int = 320) -> None:
    """The thumbnails side by side (wrapping every 6), scaled to one height, as one JPEG."""
    from PIL import Image

    tiles = []
    for path in paths:
        with Image.open(path) as image:
            width = max(1, round(image.width * tile_height / image.height))
            tiles.append(image.convert("RGB").resize((width, tile_height)))
    tile_images(tiles, out_path)


build_batch = dg.define_asset_job(
    name="build_batch",
    selection=dg.AssetSelection.assets(batch_report),
    partitions_def=batch_partitions,
    description="Build a batch of movies (one partition per batch) and write its report.",
)


class InboxCursor(BaseModel):
    """Content hashes of the files taken, newest last."""

    seen: list[str] = Field(default_factory=list)


def _inbox_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in BATCH_FILES and not p.name.startswith(".")
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


@dg.sensor(
    job=build_batch,
    minimum_interval_seconds=int(os.environ.get("MOVIE_BATCH_INTERVAL_S", "30")),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Builds batch files dropped into MOVIE_HOME/batches/inbox (YAML or CSV).",
)
def batch_inbox(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    cursor = InboxCursor.model_validate_json(context.cursor) if context.cursor else InboxCursor()
    seen = set(cursor.seen)
    requests = []
    folder = inbox_dir()
    for path in _inbox_files(folder):
        if time.time() - path.stat().st_mtime < SETTLE_S:
            continue  # still being written
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        if sha in seen:
            continue
        seen.add(sha)
        cursor.seen.append(sha)
        try:
            batch = load_batch(path, context=validation_context())
        except BatchFileError as error:
            kept = BatchStore().reject(path.name, sha, str(error))
            context.log.error(f"{path.name} is not a batch: {error} (kept in {kept})")
            continue
        for problem in batch.rejected:
            context.log.warning(f"{path.name}: {problem}")
        requests.append(queue_batch(context.instance, batch))
        context.log.info(
            f"{path.name}: batch {batch.name!r} queued, {len(batch.movies)} movie(s), "
            f"{len(batch.rejected)} row(s) refused"
        )
    cursor.seen = cursor.seen[-CURSOR_LIMIT:]
    if not requests:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no new batch file in {folder}"),
            cursor=cursor.model_dump_json(),
        )
    return dg.SensorResult(run_requests=requests, cursor=cursor.model_dump_json())
