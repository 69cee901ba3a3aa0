"""`movie`: generate, inspect and list movies from the terminal.

Every command works against the project's Dagster instance (DAGSTER_HOME, default
.movie/dagster), so `movie ui` shows each run and materialization the CLI made.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from resources.models import (
    AspectRatio,
    AssemblyStrategy,
    Audience,
    Emotion,
    ImageStyle,
    Language,
    MovieRequest,
)
from resources.projects import MovieInputs, ProjectStore, UnknownMovie, movie_id_for, validate_movie_id
from resources.settings import movie_home

console = Console(stderr=True)


def _values(enum) -> list[str]:
    return [member.value for member in enum]


def fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}")
    sys.exit(code)


def request_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "request"
        lines.append(f"{field}: {item['msg'].removeprefix('Value error, ')}")
    return "\n  ".join(lines)


@click.group()
def main() -> None:
    """Build short narrated movies from a prompt; every artifact is a Dagster asset."""


@main.command()
@click.argument("prompt")
@click.option("--duration", "duration_s", type=int, default=60, show_default=True,
              help="Seconds, 10 to 300 in steps of 10 (one segment per 10 s).")
@click.option("--audience", type=click.Choice(_values(Audience)), default="general",
              show_default=True)
@click.option("--language", type=click.Choice(_values(Language)), default="en", show_default=True)
@click.option("--voice", default="default", show_default=True,
              help="Voice id of the TTS provider (espeak variants: f1-f5, m1-m7).")
@click.option("--emotion", type=click.Choice(_values(Emotion)), default="neutral",
              show_default=True)
@click.option("--images-per-segment", type=int, default=2, show_default=True, help="1 to 5.")
@click.option("--style", "image_style", type=click.Choice(_values(ImageStyle)),
              default="documentary", show_default=True)
@click.option("--aspect", "aspect_ratio", type=click.Choice(_values(AspectRatio)), default="9:16",
              show_default=True)
@click.option("--video/--stills", "use_video", default=False,
              help="Video segments (not available yet) or Ken Burns stills.")
@click.option("--image-to-video", "is_image_to_video", is_flag=True, default=False,
              help="Animate a starting image (not available yet).")
@click.option("--assembly", "assembly_strategy", type=click.Choice(_values(AssemblyStrategy)),
              default="crossfade", show_default=True)
@click.option("--music-prompt", default=None, help="Describe the background music yourself.")
@click.option("--document", "documents", multiple=True, type=click.Path(),
              help="Local text file the research may cite (repeatable).")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--id", "movie_id", default=None, help="Movie id (default: from the prompt).")
@click.option("--workers", type=int, default=None,
              help="Worker processes for runs (0 = run in this process).")
def generate(prompt: str, movie_id: str | None, workers: int | None, **options) -> None:
    """Generate a movie from PROMPT and print where the MP4 is."""
    try:
        request = MovieRequest(prompt=prompt, documents=list(options.pop("documents")), **options)
    except ValidationError as error:
        fail(f"invalid request:\n  {request_errors(error)}")
    for document in request.documents:
        if not Path(document).is_file():
            fail(f"documents: {document!r} is not a readable file")
    try:
        movie_id = validate_movie_id(movie_id or movie_id_for(request.prompt))
    except ValueError as error:
        fail(f"id: {error}")
    store = ProjectStore()
    if store.exists(movie_id):
        existing = store.load(movie_id)
        if existing.request != request:
            fail(
                f"movie {movie_id!r} exists with other settings; change it with "
                f"`movie edit {movie_id} ...` or pick another --id"
            )
    else:
        store.save(MovieInputs(movie_id=movie_id, request=request), change="created")
    _build(movie_id, workers)


def _build(movie_id: str, workers: int | None) -> None:
    from movie_assets.build import Builder, observe_inputs, plan_level, prepare_instance, register_movie
    from movie_assets.jobs import LEVELS
    from movie_assets.providers import describe, provider_resources

    inputs = ProjectStore().load(movie_id)
    instance = prepare_instance()
    console.print(
        f"[bold]{movie_id}[/]: {inputs.request.duration_s} s, "
        f"{inputs.request.segment_count} segments x {inputs.request.images_per_segment} images "
        f"[dim]({describe(provider_resources())}; instance {os.environ['DAGSTER_HOME']})[/]"
    )
    started = time.monotonic()
    register_movie(instance, movie_id)
    observe_inputs(instance, movie_id)
    failures = []
    with Builder(workers) as builder, Progress(
        TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=False,
    ) as progress:
        for job, _, _ in LEVELS:
            plan = plan_level(instance, movie_id, inputs, job)
            task = progress.add_task(job, total=max(1, len(plan.work)))
            if not plan.work:
                progress.update(task, completed=1, description=f"{job} (up to date)")
                continue
            failures = builder.run(plan, movie_id, lambda w, e, t=task: progress.advance(t))
            if failures:
                progress.update(task, description=f"{job} [red]failed[/]")
                break
    if failures:
        for work, error in failures:
            console.print(f"[red]failed[/] {work.job} {work.partition}: {error}")
        fail(
            f"{len(failures)} partition(s) failed; fix the cause and run "
            f"`movie generate` again to redo only what is missing",
            code=1,
        )
    final = _final_video_path(instance, movie_id)
    console.print(f"done in {time.monotonic() - started:.1f} s")
    click.echo(str(final))


def _final_video_path(instance, movie_id: str) -> Path:
    """Link the latest final video to MOVIE_HOME/out/<id>.mp4 (no copy) and return that path."""
    import dagster as dg

    from movie_assets.io import latest_artifacts
    from resources.store import LocalArtifactStore, atomic_write_bytes

    found = latest_artifacts(instance, dg.AssetKey("final_video"), movie_id)
    if found is None:
        fail(f"{movie_id} has no final video yet; run `movie generate`", code=1)
    source = LocalArtifactStore().local_path(found.main)
    target = movie_home() / "out" / f"{movie_id}.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".mp4.tmp")
    staging.unlink(missing_ok=True)
    try:
        os.link(source, staging)
    except OSError:
        atomic_write_bytes(staging, source.read_bytes())
    os.replace(staging, target)
    return target


@main.command()
@click.argument("movie_id")
def status(movie_id: str) -> None:
    """Per asset: planned partitions, materialized, stale; and what the movie cost."""
    from dagster._core.definitions.data_version import StaleStatus

    from movie_assets.build import prepare_instance, stale_resolver
    from movie_assets.inputs import planned_partitions
    from movie_assets.jobs import LEVELS
    from resources.ledger import read_calls

    try:
        inputs = ProjectStore().load(movie_id)
    except (UnknownMovie, ValueError) as error:
        fail(str(error))
    instance = prepare_instance()
    resolver = stale_resolver(instance)
    table = Table(title=f"{movie_id}: {inputs.request.prompt!r}")
    for column in ("asset", "level", "planned", "fresh", "stale", "missing"):
        table.add_column(column)
    import dagster as dg

    for _, level, assets in LEVELS:
        keys = planned_partitions(movie_id, inputs.request, level)
        for asset in assets:
            counts = {StaleStatus.FRESH: 0, StaleStatus.STALE: 0, StaleStatus.MISSING: 0}
            for key in keys:
                counts[resolver.get_status(dg.AssetKey(asset), key)] += 1
            table.add_row(asset, level, str(len(keys)), str(counts[StaleStatus.FRESH]),
                          str(counts[StaleStatus.STALE]), str(counts[StaleStatus.MISSING]))
    console.print(table)
    calls = read_calls(movie_id)
    cost = sum(c["estimated_cost_usd"] for c in calls)
    console.print(f"provider calls: {len(calls)}, estimated cost ${cost:.4f}")
    final = movie_home() / "out" / f"{movie_id}.mp4"
    if final.exists():
        click.echo(str(final))


@main.command(name="list")
def list_movies() -> None:
    """Movies in this project."""
    store = ProjectStore()
    table = Table()
    for column in ("id", "duration", "language", "prompt", "video"):
        table.add_column(column)
    for movie_id in store.list_ids():
        request = store.load(movie_id).request
        video = movie_home() / "out" / f"{movie_id}.mp4"
        table.add_row(movie_id, f"{request.duration_s} s", request.language.value,
                      request.prompt[:50], str(video) if video.exists() else "-")
    Console().print(table)


@main.command()
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Start the Dagster UI (webserver and daemon) on this project's instance."""
    from movie_assets.build import prepare_instance

    prepare_instance()
    workspace = Path(__file__).resolve().parent.parent / "workspace.yaml"
    os.execvp("dagster", ["dagster", "dev", "-w", str(workspace), "-p", str(port)])


if __name__ == "__main__":
    main()



