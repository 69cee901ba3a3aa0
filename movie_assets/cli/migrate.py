"""`movie export` / `movie import`: take a local project's movies into production mode.

Export in the project the movies were made in (usually MOVIE_MODE=local); import with
MOVIE_MODE=production against the production stack. See movie_assets/instance/migration.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from movie_assets.cli.terminal import console, fail, lit, open_instance


@click.command("export")
@click.argument("movie_ids", nargs=-1)
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Archive to write (a tar file).",
)
def export_command(movie_ids: tuple[str, ...], target: Path) -> None:
    """Write MOVIE_IDS (default: every movie) with their history, ledger and artifacts to a tar
    archive that `movie import` reads."""
    from movie_assets.instance.migration import export_movies
    from movie_assets.producer_resources import producer_resources
    from resources.storage.projects import ProjectStore, UnknownMovie

    ids = list(movie_ids) or ProjectStore().list_ids()
    if not ids:
        fail("no movies in this project to export")
    try:
        manifest = export_movies(open_instance(), producer_resources()["store"], ids, target)
    except UnknownMovie as error:
        fail(str(error))
    for movie in manifest.movies:
        console.print(
            f"{lit(movie.movie_id)}: {movie.events} events, {movie.ledger_calls} provider calls"
        )
    size = sum(b.size for b in manifest.blobs)
    console.print(f"{len(manifest.blobs)} artifacts ({size / 1e6:.1f} MB) -> {lit(str(target))}")


@click.command("import")
@click.argument(
    "archive", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)
def import_command(archive: Path) -> None:
    """Bring the movies of ARCHIVE (from `movie export`) into this production project."""
    from movie_assets.instance.migration import InvalidArchive, import_movies
    from movie_assets.producer_resources import producer_resources
    from resources.runtime.settings import production_mode

    if not production_mode():
        fail("movie import writes into production mode: set MOVIE_MODE=production")
    try:
        summary = import_movies(open_instance(), producer_resources()["store"], archive)
    except InvalidArchive as error:
        reason = " ".join(str(error).split())  # one line, whatever the tar library said
        fail(f"invalid archive {archive.name}: {reason}; nothing was imported")
    console.print(
        f"imported {lit(', '.join(summary.movies))}: {summary.events} events, "
        f"{summary.uploaded} artifacts uploaded ({summary.already_there} already in the bucket)"
    )
    for movie_id in summary.movies:
        console.print(f"check it with `movie status {lit(movie_id)}`")
