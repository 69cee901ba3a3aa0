"""`movie delete ID` and `movie restore ID` (see movie_assets/orchestration/deletion.py)."""

from __future__ import annotations

import click

from movie_assets.cli.terminal import console, fail, lit, open_instance


@click.command()
@click.argument("movie_id")
@click.option(
    "--purge",
    is_flag=True,
    help="Remove the kept copies of a deleted movie for good (it can no longer be restored).",
)
def delete(movie_id: str, purge: bool) -> None:
    """Delete a movie: its partition goes from the UI; its inputs, history and artifacts are
    kept, and `movie restore ID` brings it back, until `movie delete ID --purge`."""
    from movie_assets.orchestration.deletion import MovieBusy, delete_movie, purge_deleted
    from resources.storage.projects import ProjectStore, UnknownMovie, validate_movie_id

    try:
        validate_movie_id(movie_id)
    except ValueError as error:
        fail(str(error))
    if purge:
        if ProjectStore().exists(movie_id):
            fail(f"movie {movie_id!r} exists: delete it first (`movie delete {movie_id}`)")
        count = purge_deleted(movie_id)
        if not count:
            fail(f"no deleted copy of {movie_id!r} to purge")
        console.print(
            f"purged {count} deleted cop{'y' if count == 1 else 'ies'} of {lit(movie_id)}"
        )
        return
    instance = open_instance()
    try:
        folder = delete_movie(instance, movie_id)
    except (UnknownMovie, MovieBusy) as error:
        fail(str(error))
    console.print(
        f"deleted {lit(movie_id)}: its partition is gone; inputs kept in {lit(folder)} "
        f"(`movie restore {lit(movie_id)}` undoes it, `movie delete {lit(movie_id)} --purge` "
        "removes them for good)",
        soft_wrap=True,
    )


@click.command()
@click.argument("movie_id")
def restore(movie_id: str) -> None:
    """Bring back a deleted movie with its whole history (nothing is rebuilt)."""
    from movie_assets.orchestration.deletion import restore_movie
    from resources.storage.projects import UnknownMovie

    instance = open_instance()
    try:
        restore_movie(instance, movie_id)
    except (UnknownMovie, ValueError) as error:
        fail(str(error))
    console.print(f"restored {lit(movie_id)}: `movie status {lit(movie_id)}` shows it")
