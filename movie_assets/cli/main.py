"""`movie`: generate, inspect and list movies from the terminal.

Every command works against the project's Dagster instance (DAGSTER_HOME, default
.movie/dagster), so `movie ui` shows each run and materialization the CLI made.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from movie_assets.cli.terminal import VERBOSE, console, fail, lit, open_instance, report_crash
from resources.domain.documents import read_documents
from resources.domain.errors import InvalidInput
from resources.domain.models import (
    AspectRatio,
    AssemblyStrategy,
    Audience,
    Blueprint,
    ClipMode,
    Emotion,
    ImageStyle,
    Language,
    MovieRequest,
)
from resources.runtime.settings import movie_home, production_mode
from resources.storage.projects import (
    MovieInputs,
    ProjectStore,
    UnknownMovie,
    movie_id_for,
    validate_movie_id,
)


def _one_of(enum: type[Enum], *names: str, **options) -> Callable:
    """A click option that takes one of the enum's values."""
    return click.option(*names, type=click.Choice([member.value for member in enum]), **options)


def request_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "request"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "too_long" and isinstance(item.get("input"), str):
            # pydantic says "items" for a length limit on annotated text: these are characters.
            limit = (item.get("ctx") or {}).get("max_length")
            message = f"should have at most {limit} characters, got {len(item['input'])}"
        lines.append(f"{field}: {message}")
    return "\n  ".join(lines)


class MovieGroup(click.Group):
    """Any error a command does not handle becomes one line plus a trace in the log file; a
    usage error is one line; Ctrl-C and SIGTERM are one line (exit 130 / 143); nothing printed
    or logged holds a secret (resources/runtime/secrets.py)."""

    def main(self, args=None, prog_name=None, complete_var=None, **extra):
        from movie_assets.orchestration.interrupts import install_cli
        from resources.runtime.secrets import install_all

        install_all(streams=True)
        install_cli()
        try:
            code = super().main(
                args, prog_name or "movie", complete_var, standalone_mode=False, **extra
            )
        except click.UsageError as error:
            if isinstance(error, _NO_ARGS_IS_HELP):  # plain `movie`: the help, as Click shows it
                error.show()
                sys.exit(error.exit_code)
            where = f" (see `{error.ctx.command_path} --help`)" if error.ctx else ""
            console.print(
                "[bold red]error:[/] " + lit(" ".join(error.format_message().split()) + where),
                soft_wrap=True,
            )
            sys.exit(error.exit_code)
        except click.ClickException as error:
            console.print("[bold red]error:[/] " + lit(error.format_message()), soft_wrap=True)
            sys.exit(error.exit_code)
        except (click.Abort, KeyboardInterrupt) as error:
            sys.exit(_interrupted(error.__context__ or error))
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt as error:
            ctx.exit(_interrupted(error))
        except Exception as error:
            ctx.exit(report_crash(error))


_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _interrupted(error: BaseException) -> int:
    """Ctrl-C or SIGTERM: one line, no trace; the exit code says which (130, 143)."""
    import signal

    from movie_assets.orchestration.interrupts import MESSAGE, exit_code

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not print a trace
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    console.print(f"[yellow]{MESSAGE}[/]", soft_wrap=True)
    return exit_code(error)


def validation_context() -> dict:
    """What the request models check user values against: the chosen TTS's voices, and the
    fonts that draw on-screen text."""
    from movie_assets.producer_resources import producer_resources

    return {"voices": producer_resources()["tts"].voices(), "check_glyphs": True}


@click.group(cls=MovieGroup)
@click.option("--verbose", is_flag=True, help="Print full stack traces of failures too.")
def main(verbose: bool) -> None:
    """Build short narrated movies from a prompt; every artifact is a Dagster asset."""
    VERBOSE["on"] = verbose


@main.command()
@click.argument("prompt")
@click.option(
    "--duration",
    "duration_s",
    type=int,
    default=60,
    show_default=True,
    help="Seconds, 10 to 300 in steps of 10 (one segment per 10 s).",
)
@_one_of(Audience, "--audience", default="general", show_default=True)
@_one_of(Language, "--language", default="en", show_default=True)
@click.option(
    "--voice",
    default="default",
    show_default=True,
    help="Voice id of the TTS provider (espeak variants: f1-f5, m1-m7).",
)
@_one_of(Emotion, "--emotion", default="neutral", show_default=True)
@click.option("--images-per-segment", type=int, default=2, show_default=True, help="1 to 5.")
@_one_of(ImageStyle, "--style", "image_style", default="documentary", show_default=True)
@_one_of(AspectRatio, "--aspect", "aspect_ratio", default="9:16", show_default=True)
@_one_of(
    Blueprint,
    "--blueprint",
    default=None,
    help="What segments are: image (stills, Ken Burns; default), video-by-text, video-by-image.",
)
@click.option(
    "--video/--stills",
    "use_video",
    default=False,
    help="Same as --blueprint video-by-text (with --image-to-video: video-by-image).",
)
@click.option(
    "--image-to-video",
    "is_image_to_video",
    is_flag=True,
    default=False,
    help="Same as --blueprint video-by-image.",
)
@_one_of(
    AssemblyStrategy, "--assembly", "assembly_strategy", default="crossfade", show_default=True
)
@click.option("--music-prompt", default=None, help="Describe the background music yourself.")
@click.option(
    "--document",
    "documents",
    multiple=True,
    type=click.Path(),
    help="Local text file the research may cite (repeatable).",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--id", "movie_id", default=None, help="Movie id (default: from the prompt).")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=32),
    default=None,
    help="Worker processes for runs (default: 2-4; small rebuilds run in this process).",
)
def generate(prompt: str, movie_id: str | None, workers: int | None, **options) -> None:
    """Generate a movie from PROMPT and print where the MP4 is."""
    try:
        request = MovieRequest.model_validate(
            {"prompt": prompt, "documents": list(options.pop("documents")), **options},
            context=validation_context(),
        )
    except ValidationError as error:
        fail(f"invalid request:\n  {request_errors(error)}")
    try:
        read_documents(request.documents)  # size and text checks now, before anything is saved
    except InvalidInput as error:
        fail(str(error))
    try:
        # Only an absent --id is derived from the prompt: `--id ""` is refused, not replaced.
        movie_id = validate_movie_id(
            movie_id if movie_id is not None else movie_id_for(request.prompt)
        )
    except ValueError as error:
        fail(f"id: {error}")
    store = ProjectStore()
    with store.locked(movie_id):  # two `generate`s of one id: one creates, one compares
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


def _build(
    movie_id: str,
    workers: int | None,
    observe: bool = True,
    pending: dict[str, dict[str, str]] | None = None,
) -> None:
    from movie_assets.orchestration.builder import (
        Builder,
        build_levels,
        observe_inputs,
        pending_work,
        register_movie,
    )
    from movie_assets.producer_resources import describe, producer_resources

    inputs = ProjectStore().load(movie_id)
    instance = open_instance()
    console.print(
        f"[bold]{lit(movie_id)}[/]: {inputs.request.duration_s} s, "
        f"{inputs.request.segment_count} segments x {inputs.request.images_per_segment} images "
        f"[dim]({lit(describe(producer_resources()))}; instance "
        f"{lit(os.environ['DAGSTER_HOME'])})[/]"
    )
    started = time.monotonic()
    register_movie(instance, movie_id)
    if observe:
        observe_inputs(instance, movie_id)
    if pending is None:
        pending = pending_work(instance, movie_id, inputs)
    if workers is None and max(map(len, pending.values()), default=0) <= 1:
        workers = 0  # a handful of single runs: starting worker processes costs more
    if production_mode():
        from movie_assets.instance.queued_builder import (
            QueuedBuilder,  # runs go through the daemon's queue
        )

        builder_for_mode = QueuedBuilder(instance)
    else:
        builder_for_mode = Builder(workers)
    with (
        builder_for_mode as builder,
        Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress,
    ):
        tasks = {}

        def follow(job: str, plan) -> Callable:
            tasks[job] = progress.add_task(job, total=max(1, len(plan.work) if plan else 1))
            if plan is None or not plan.work:
                progress.update(tasks[job], completed=1, description=f"{job} (up to date)")
            return lambda work, error: progress.advance(tasks[job])

        failures = build_levels(instance, movie_id, inputs, pending, builder, follow)
        if failures:
            failed_job = failures[0][0].job
            progress.update(tasks[failed_job], description=f"{failed_job} [red]failed[/]")
    if failures:
        for work, error in failures:
            line = f"[red]failed[/] {work.job} {lit(work.partition)}: {lit(error)}"
            console.print(line, soft_wrap=True)  # one line each, as the user can grep them
        from resources.runtime.logs import log_path

        if log_path().exists():
            console.print(f"[dim]full traces: {lit(log_path())}[/]", soft_wrap=True)
        fail(
            # `regenerate` works whatever made the movie (generate, edits, a batch row).
            f"{len(failures)} partition(s) failed; fix the cause and run "
            f"`movie regenerate {movie_id}` to redo only what is missing",
            code=1,
        )
    from movie_assets.checks.stale_marks import mark_pending

    mark_pending(instance, movie_id, {})  # clear the UI's "will be rebuilt" warnings
    final = _final_video_path(instance, movie_id)
    console.print(f"done in {time.monotonic() - started:.1f} s")
    click.echo(str(final))


def _final_video_path(instance, movie_id: str) -> Path:
    """Publish the latest final video to MOVIE_HOME/out/<id>.mp4 (no copy) and return that path."""
    from movie_assets.orchestration.delivery import publish_latest
    from movie_assets.producer_resources import producer_resources

    published = publish_latest(instance, movie_id, producer_resources()["store"])
    if published is None:
        fail(f"{movie_id} has no final video yet; run `movie generate`", code=1)
    if published.uri:
        console.print(f"published object: {lit(published.uri)}")
    return published.path


def _load(movie_id: str) -> MovieInputs:
    try:
        return ProjectStore().load(movie_id)
    except (UnknownMovie, ValueError) as error:
        fail(str(error))
        raise  # unreachable: fail exits


@main.command()
@click.argument("movie_id")
@click.option(
    "--segment",
    type=int,
    default=None,
    help="Segment number (0-based) that --narration/--voice/--emotion/--video apply to.",
)
@click.option("--narration", default=None, help="New narration text of --segment ('' resets).")
@click.option("--shot", default=None, help="Shot id, e.g. s03i1, that --image-prompt applies to.")
@click.option("--image-prompt", default=None, help="New image prompt of --shot ('' resets).")
@click.option("--voice", default=None, help="Voice of the movie, or of --segment.")
@_one_of(Emotion, "--emotion", default=None, help="Emotion of the movie, or of --segment.")
@_one_of(
    ClipMode,
    "--video",
    default=None,
    help="Picture of --segment: a clip from text, from its first image, or off (stills).",
)
@_one_of(Blueprint, "--blueprint", default=None)
@click.option("--duration", "duration_s", type=int, default=None)
@click.option("--images-per-segment", type=int, default=None)
@_one_of(ImageStyle, "--style", "image_style", default=None)
@_one_of(AspectRatio, "--aspect", "aspect_ratio", default=None)
@_one_of(AssemblyStrategy, "--assembly", "assembly_strategy", default=None)
@_one_of(Audience, "--audience", default=None)
@_one_of(Language, "--language", default=None)
@click.option("--music-prompt", default=None, help="Music prompt ('' = written by the LLM).")
@click.option("--prompt", default=None, help="A new prompt: everything is rewritten.")
def edit(movie_id: str, **options) -> None:
    """Record an edit; the partitions that depend on it become stale (see `movie regenerate`)."""
    _load(movie_id)  # an unknown or damaged movie is refused before the lock is taken
    context = validation_context()  # everything is validated before anything is saved
    recorded: list[str] = []

    def apply(inputs: MovieInputs) -> tuple[MovieInputs, str] | None:
        # Runs under the movie's lock on its latest inputs, so a concurrent edit is kept.
        result = _apply_edit(inputs, context, **options)
        if result is not None:
            recorded.append(result[1])
        return result

    if ProjectStore().update(movie_id, apply) is None:
        console.print("no change: the movie already has these settings")
        return
    _finish_edit(movie_id, recorded[0])


def _apply_edit(
    inputs: MovieInputs,
    context: dict,
    segment: int | None,
    narration: str | None,
    shot: str | None,
    image_prompt: str | None,
    voice: str | None,
    emotion: str | None,
    video: str | None,
    **settings,
) -> tuple[MovieInputs, str] | None:
    from resources.domain.models import parse_shot_key, segment_key
    from resources.storage.projects import SegmentOverride, ShotOverride

    request = inputs.request
    changes: list[str] = []
    updates = {k: v for k, v in settings.items() if v is not None}
    if segment is None and voice is not None:
        updates["voice"] = voice
    if segment is None and emotion is not None:
        updates["emotion"] = emotion
    if "music_prompt" in updates:
        updates["music_prompt"] = updates["music_prompt"] or None
    if updates:
        try:
            request = MovieRequest.model_validate(request.model_dump() | updates, context=context)
        except ValidationError as error:
            fail(f"invalid edit:\n  {request_errors(error)}")
        changes += [f"{k}={v!r}" for k, v in updates.items()]
    segments = dict(inputs.segments)
    if segment is not None:
        if not 0 <= segment < request.segment_count:
            fail(
                f"segment: must be between 0 and {request.segment_count - 1} for a "
                f"{request.duration_s} s movie, got {segment}"
            )
        if narration is None and voice is None and emotion is None and video is None:
            fail("segment: give --narration, --voice, --emotion or --video to change in it")
        key = segment_key(segment)
        current = segments.get(key, SegmentOverride())
        segment_edit = {"narration": narration, "voice": voice, "emotion": emotion, "video": video}
        if narration is not None and not narration.strip() and narration != "":
            fail("narration: must not be only whitespace ('' resets to the script)")
        changed = {k: (v or None) for k, v in segment_edit.items() if v is not None}
        try:
            segments[key] = SegmentOverride.model_validate(
                current.model_dump() | changed, context=context
            )
        except ValidationError as error:
            fail(f"invalid edit of segment {key}:\n  {request_errors(error)}")
        changes.append(
            f"segment {key}: "
            + ", ".join(f"{k}={v!r}" for k, v in segment_edit.items() if v is not None)
        )
    elif narration is not None:
        fail("narration: needs --segment N")
    elif video is not None:
        fail("video: needs --segment N (for the whole movie use --blueprint)")
    shots = dict(inputs.shots)
    if shot is not None or image_prompt is not None:
        if shot is None or image_prompt is None:
            fail("shot: --shot and --image-prompt go together")
        try:
            segment_index, image_index = parse_shot_key(shot)
        except ValueError as error:
            fail(f"shot: {error}")
        if segment_index >= request.segment_count or image_index >= request.images_per_segment:
            fail(
                f"shot: {shot} is outside the plan ({request.segment_count} segments x "
                f"{request.images_per_segment} images)"
            )
        try:
            shots[shot] = ShotOverride.model_validate({"image_prompt": image_prompt or None})
        except ValidationError as error:
            fail(f"invalid edit of shot {shot}:\n  {request_errors(error)}")
        changes.append(f"shot {shot}: image_prompt={image_prompt!r}")
    if not changes:
        fail("nothing to edit: give at least one option (see `movie edit --help`)")
    edited = inputs.model_copy(update={"request": request, "segments": segments, "shots": shots})
    return None if edited == inputs else (edited, "; ".join(changes))


def _finish_edit(movie_id: str, change: str) -> None:
    from movie_assets.checks.stale_marks import refresh_marks
    from movie_assets.orchestration.builder import observe_inputs

    instance = open_instance()
    observe_inputs(instance, movie_id)
    refresh_marks(instance, movie_id)  # the UI shows the whole chain to rebuild at once
    console.print(f"recorded: {lit(change)}")
    console.print(f"see what it affects with `movie regenerate {lit(movie_id)} --dry-run`")


def _print_pending(movie_id: str, pending: dict[str, dict[str, str]]) -> float:
    from resources.storage.ledger import read_calls

    calls = read_calls(movie_id)
    table = Table(title=f"{lit(movie_id)}: to rebuild")
    for column in ("asset", "partitions", "why (first)", "est. cost"):
        table.add_column(column)
    total = 0.0
    for asset, rows in pending.items():
        costs = [c["estimated_cost_usd"] for c in calls if c["asset"] == asset]
        cost = (sum(costs) / len(costs) if costs else 0.0) * len(rows)
        total += cost
        slots = [p.split("|")[-1] for p in rows]
        shown = ", ".join(slots[:8]) + (f" (+{len(slots) - 8})" if len(slots) > 8 else "")
        why = next(iter(rows.values()))
        table.add_row(asset, lit(f"{len(rows)}: {shown}"), lit(why), f"${cost:.4f}")
    Console(stderr=True).print(table)
    console.print(f"estimated cost at most ${total:.4f} (from earlier calls of the same assets)")
    return total


@main.command()
@click.argument("movie_id")
@click.option("--dry-run", is_flag=True, help="Only print what would be rebuilt.")
@click.option("--workers", type=click.IntRange(min=1, max=32), default=None)
def regenerate(movie_id: str, dry_run: bool, workers: int | None) -> None:
    """Rebuild exactly the stale or missing partitions and what depends on them."""
    from movie_assets.orchestration.builder import observe_inputs, pending_work

    inputs = _load(movie_id)
    instance = open_instance()
    observe_inputs(instance, movie_id)
    pending = pending_work(instance, movie_id, inputs)
    if not pending:
        console.print(f"{lit(movie_id)} is up to date: nothing to rebuild")
        if not dry_run:
            click.echo(str(_final_video_path(instance, movie_id)))
        return
    _print_pending(movie_id, pending)
    if dry_run:
        return
    _build(movie_id, workers, observe=False, pending=pending)


@main.command()
@click.argument("movie_id")
@click.option("--asset", default=None, help="Asset name, e.g. shot_image.")
@click.option("--partition", default=None, help="Slot (s03, s03i1) or the movie id.")
def history(movie_id: str, asset: str | None, partition: str | None) -> None:
    """Revisions of each artifact: time, why, prompt, hash, provider, cost."""
    import datetime

    from movie_assets.orchestration.levels import LEVELS
    from movie_assets.partitions import planned_partitions

    inputs = _load(movie_id)
    instance = open_instance()
    level_of = {a: level for _, level, assets in LEVELS for a in assets}
    if asset is not None and asset not in level_of:
        fail(f"asset: must be one of {', '.join(level_of)}, got {asset!r}")
    assets = [asset] if asset else list(level_of)
    table = Table(title=f"{lit(movie_id)}: revisions")
    for column in (
        "asset",
        "partition",
        "#",
        "time",
        "why",
        "prompt / text",
        "sha256",
        "provider",
        "cost",
    ):
        table.add_column(column, overflow="fold")
    for name in assets:
        keys = [str(k) for k in planned_partitions(movie_id, inputs.request, level_of[name])]
        if partition:
            keys = [k for k in keys if k == partition or k.endswith("|" + partition)]
        for key in keys:
            for number, record in enumerate(_revisions(instance, name, key), start=1):
                meta = record.asset_materialization.metadata
                tags = record.asset_materialization.tags or {}
                run = instance.get_run_by_id(record.run_id) if record.run_id else None
                rolled = tags.get("movie/rollback_of", "").replace("-", " ")
                why = rolled and f"rollback to {rolled}"
                why = why or (run.tags.get("movie/reason", "") if run else "")
                why = why or (str(meta["reason"].value) if "reason" in meta else "")  # imported
                text = meta.get("prompt") or meta.get("narration") or meta.get("text")
                table.add_row(
                    name,
                    key.split("|")[-1],
                    str(number),
                    datetime.datetime.fromtimestamp(record.timestamp).strftime("%m-%d %H:%M:%S"),
                    lit(why[:60]),
                    lit(str(text.value if text else "")[:50]),
                    str(meta["sha256"].value)[:12] if "sha256" in meta else "",
                    lit(meta["provider"].value) if "provider" in meta else "-",
                    f"{meta['estimated_cost_usd'].value:.4f}"
                    if "estimated_cost_usd" in meta
                    else "-",
                )
    Console(width=200).print(table)


def _revisions(instance, asset: str, partition: str) -> list:
    """Materializations of one partition, oldest first (revision 1 is the first build)."""
    import dagster as dg

    return list(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]),
            limit=1000,
            ascending=True,
        ).records
    )


@main.command()
@click.argument("movie_id")
@click.option("--asset", required=True, help="Asset name, e.g. shot_image.")
@click.option("--partition", required=True, help="Slot (s03, s03i1) or the movie id.")
@click.option(
    "--revision",
    type=int,
    default=None,
    help="Revision number from `movie history` (default: the one before the latest).",
)
@click.option("--no-build", is_flag=True, help="Only re-point; do not rebuild what follows.")
@click.option("--workers", type=click.IntRange(min=1, max=32), default=None)
def rollback(
    movie_id: str,
    asset: str,
    partition: str,
    revision: int | None,
    no_build: bool,
    workers: int | None,
) -> None:
    """Point a partition back at an earlier revision (no provider call); downstream follows."""
    import dagster as dg

    _load(movie_id)
    instance = open_instance()
    key = partition if partition == movie_id else f"{movie_id}|{partition}"
    revisions = _revisions(instance, asset, key)
    if not revisions:
        fail(f"partition: {asset} {partition} of {movie_id} has no revisions")
    number = revision if revision is not None else len(revisions) - 1
    if not 1 <= number <= len(revisions):
        fail(f"revision: must be between 1 and {len(revisions)}, got {number}")
    chosen = revisions[number - 1].asset_materialization
    tags = {k: v for k, v in (chosen.tags or {}).items() if k.startswith("dagster/data_version")}
    tags["movie/rollback_of"] = f"revision-{number}"  # asset event tags: [A-Za-z0-9_.-]
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=asset, partition=key, metadata=dict(chosen.metadata), tags=tags
        )
    )
    console.print(f"{lit(asset)} {lit(partition)} now points at revision {number}")
    if not no_build:
        _build(movie_id, workers)


@main.command()
@click.argument("movie_id")
def status(movie_id: str) -> None:
    """Per asset: planned partitions, fresh, to rebuild (as `regenerate --dry-run` plans it),
    missing and damaged; and what the movie cost."""
    from movie_assets.orchestration.builder import pending_work
    from movie_assets.orchestration.levels import LEVELS
    from movie_assets.partitions import planned_partitions
    from resources.storage.ledger import read_calls

    inputs = _load(movie_id)
    instance = open_instance()
    # The same planning as `regenerate --dry-run`: an edit's whole chain counts as stale.
    pending = pending_work(instance, movie_id, inputs)
    table = Table(title=f"{lit(movie_id)}: {lit(repr(inputs.request.prompt))}")
    for column in ("asset", "level", "planned", "fresh", "stale", "missing", "damaged"):
        table.add_column(column)
    totals: Counter[str] = Counter()
    for _, level, assets in LEVELS:
        planned = len(planned_partitions(movie_id, inputs.request, level))
        for asset in assets:
            reasons = list(pending.get(asset, {}).values())
            kinds = Counter(
                "missing"
                if why == "missing"
                else "damaged"
                if why.startswith("artifact ")
                else "stale"
                for why in reasons
            )
            totals += kinds
            row = (planned - len(reasons), kinds["stale"], kinds["missing"], kinds["damaged"])
            table.add_row(asset, level, str(planned), *map(str, row))
    console.print(table)
    if totals["damaged"]:
        console.print(
            f"[red]{totals['damaged']} partition(s) have damaged artifacts[/] (missing, or "
            f"corrupt and quarantined): run `movie verify {lit(movie_id)} --repair`"
        )
    if totals["stale"] or totals["missing"]:
        console.print(
            f"{totals['stale'] + totals['missing']} partition(s) to rebuild: run "
            f"`movie regenerate {lit(movie_id)}` (`--dry-run` says why)"
        )
    from movie_assets.orchestration.clip_fallbacks import clip_fallbacks

    segments = [str(k) for k in planned_partitions(movie_id, inputs.request, "segment")]
    for partition, error in clip_fallbacks(instance, segments).items():
        console.print(
            f"[yellow]fallback[/] segment_clip {lit(partition.split('|')[-1])}: stills "
            f"(clip failed: {lit(error)}); `movie regenerate` retries it"
        )
    calls = read_calls(movie_id)
    cost = sum(c["estimated_cost_usd"] for c in calls)
    console.print(f"provider calls: {len(calls)}, estimated cost ${cost:.4f}")
    from movie_assets.cli.gpu import print_cost_by_asset

    print_cost_by_asset(calls)
    from movie_assets.cli.checks import print_check_status

    print_check_status(instance, movie_id)
    from movie_assets.cli.delivery import print_delivery

    print_delivery(movie_id)  # the bucket object in production, and the local file


@main.command()
@click.argument("movie_id", required=False)
@click.option("--repair", is_flag=True, help="Rebuild what is damaged (as `movie regenerate`).")
@click.option(
    "--all-revisions", is_flag=True, help="Also check the files of older revisions (rollbacks)."
)
@click.option("--workers", type=click.IntRange(min=1, max=32), default=None)
def verify(movie_id: str | None, repair: bool, all_revisions: bool, workers: int | None) -> None:
    """Check every stored artifact a movie (default: every movie) references against its hash;
    missing and corrupt ones are listed (corrupt ones moved to quarantine) and, with --repair,
    made again."""
    from movie_assets.orchestration.verify import find_damage, movie_references
    from movie_assets.producer_resources import producer_resources

    ids = [movie_id] if movie_id else ProjectStore().list_ids()
    instance = open_instance()
    store = producer_resources()["store"]
    table = Table(title="damaged artifacts")
    for column in ("movie", "asset", "partition", "file", "state", "revision"):
        table.add_column(column)
    damaged_movies: list[str] = []
    checked = 0
    for each in ids:
        inputs = _load(each)
        references = movie_references(instance, each, inputs, all_revisions=all_revisions)
        checked += len({(r.ref.sha256, r.ref.suffix) for r in references})
        damage = find_damage(store, references)
        for found in damage:
            ref = found.reference
            table.add_row(
                lit(each),
                ref.asset,
                lit(ref.partition.split("|")[-1]),
                ref.name,
                f"[red]{found.state}[/]",
                "latest" if ref.latest else "older",
            )
        if any(found.reference.latest for found in damage):
            damaged_movies.append(each)
        elif damage:
            console.print(
                f"{lit(each)}: only older revisions are damaged; they are rebuilt if a "
                "rollback points at them"
            )
    console.print(f"checked {checked} stored file(s) of {len(ids)} movie(s)")
    if table.row_count:
        console.print(table)
    else:
        console.print("every artifact is intact")
    if not damaged_movies:
        return
    if not repair:
        fail(
            f"damaged: {', '.join(damaged_movies)}; run `movie verify --repair` (or "
            "`movie regenerate ID`) to make the damaged artifacts again",
            code=1,
        )
    for each in damaged_movies:
        console.print(f"repairing {lit(each)}")
        _build(each, workers)


@main.command(name="list")
def list_movies() -> None:
    """Movies in this project."""
    store = ProjectStore()
    table = Table()
    for column in ("id", "duration", "language", "prompt", "video"):
        table.add_column(column)
    for movie_id in store.list_ids():
        try:
            request = store.load(movie_id).request
        except (ValidationError, ValueError, OSError) as error:
            # One unreadable movie must not hide the others.
            first = str(error).strip().splitlines()[0]
            table.add_row(lit(movie_id), "-", "-", lit(f"unreadable: {first}"), "-")
            continue
        video = movie_home() / "out" / f"{movie_id}.mp4"
        table.add_row(
            lit(movie_id),
            f"{request.duration_s} s",
            request.language.value,
            lit(request.prompt[:50]),
            lit(video) if video.exists() else "-",
        )
    Console().print(table)


from movie_assets.cli.checks import check  # noqa: E402
from movie_assets.cli.ui import ui  # noqa: E402  (commands from their own modules)

main.add_command(ui)
main.add_command(check)

from movie_assets.cli.gpu import gpu  # noqa: E402

main.add_command(gpu)
from movie_assets.cli.batch import batch  # noqa: E402

main.add_command(batch)
from movie_assets.cli.serve import serve, timeline  # noqa: E402

main.add_command(serve)
main.add_command(timeline)
from movie_assets.cli.migrate import export_command, import_command  # noqa: E402

main.add_command(export_command)
main.add_command(import_command)
from movie_assets.cli.delivery import url  # noqa: E402

main.add_command(url)
from movie_assets.cli.delete import delete, restore  # noqa: E402

main.add_command(delete)
main.add_command(restore)


def run() -> None:
    """The `movie` command (the console script and `python -m movie_assets.cli`).

    When the command is done and nothing else runs, the process exits at once after the exit
    handlers and a flush: tearing down the interpreter (Dagster, pydantic, SQLAlchemy modules)
    took another 0.8 s of CPU per command, 7% of a one-shot rebuild. Tests call `main` (Click's
    CliRunner), which returns as usual."""
    try:
        main()
        code: object = 0
    except SystemExit as done:
        code = done.code
    others = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    if others:  # a command left work running: let the interpreter wait for it as usual
        sys.exit(code)
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()  # logging's flush, multiprocessing's clean-up (no public way)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    run()
