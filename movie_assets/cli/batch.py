"""`movie batch`: check a batch file, or build it now from the terminal.

`movie batch run FILE` runs the same `build_batch` job the inbox sensor and the schedules launch
(in this process, against the project's instance), so the UI shows the run and its report.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import click
from rich.console import Console
from rich.table import Table

from movie_assets.cli.terminal import console, fail, lit
from resources.domain.batch_files import BatchFile, BatchFileError, load_batch


def _load(path: str) -> BatchFile:
    from movie_assets.assets.batches import validation_context

    try:
        batch = load_batch(Path(path), context=validation_context())
    except BatchFileError as error:
        fail(f"{path}: {error}")
        raise  # unreachable: fail exits
    except OSError as error:
        fail(f"{path}: cannot be read ({error.strerror})")
        raise
    for problem in batch.rejected:
        console.print(f"[yellow]refused[/] {lit(problem)}")
    budget = f", budget ${batch.budget_usd:.2f}" if batch.budget_usd else ""
    console.print(
        f"batch [bold]{lit(batch.name)}[/]: {len(batch.movies)} movie(s) accepted, "
        f"{len(batch.rejected)} row(s) refused{budget}"
    )
    return batch


@click.group()
def batch() -> None:
    """Batches of movies from a YAML or CSV file (see examples/)."""


@batch.command()
@click.argument("path", type=click.Path())
def check(path: str) -> None:
    """Validate a batch file: print the refused rows (line and field); build nothing."""
    found = _load(path)
    if found.rejected:
        raise SystemExit(1)


@batch.command()
@click.argument("path", type=click.Path())
def run(path: str) -> None:
    """Build a batch file now: the good rows in order, under its budget; print the report."""
    from movie_assets.assets.batches import BATCH_SHA_TAG, queue_batch
    from movie_assets.definitions import defs
    from movie_assets.instance.run_coordinator import REPOSITORY_LABEL, record_code_location
    from movie_assets.io_manager import latest_artifacts
    from movie_assets.orchestration.batch_runs import BatchReport
    from movie_assets.orchestration.builder import QUIET_RUN_CONFIG, prepare_instance
    from movie_assets.producer_resources import producer_resources

    found = _load(path)
    if not found.movies:
        fail("no movie to build: every row was refused", code=1)
    instance = prepare_instance()
    request = queue_batch(instance, found)
    result = defs.resolve_job_def("build_batch").execute_in_process(
        partition_key=found.name,
        instance=instance,
        tags={**REPOSITORY_LABEL, BATCH_SHA_TAG: request.tags[BATCH_SHA_TAG]},
        run_config=QUIET_RUN_CONFIG,
        raise_on_error=False,
    )
    record_code_location(instance, result.run_id)
    if not result.success:
        fail(f"the batch run {result.run_id} failed; see it in `movie ui`", code=1)
    import dagster as dg

    artifacts = latest_artifacts(instance, dg.AssetKey("batch_report"), found.name)
    assert artifacts is not None
    report = BatchReport.model_validate_json(
        producer_resources()["store"].local_path(artifacts.main).read_text()
    )
    table = Table(title=f"batch {lit(report.name)}")
    for column in ("line", "movie", "status", "cost", "output / reason"):
        table.add_column(column, overflow="fold")
    for movie in report.movies:
        table.add_row(
            str(movie.line or ""),
            lit(movie.movie_id or ""),
            movie.status,
            f"${movie.cost_usd:.4f}",
            lit(movie.output_uri or movie.reason),
        )
    Console(stderr=True, width=160).print(table)
    console.print(f"cost ${report.cost_usd:.4f}")
    for movie in report.movies:
        if movie.output_uri:
            click.echo(url2pathname(urlparse(movie.output_uri).path))
    if report.count("failed"):
        raise SystemExit(1)
