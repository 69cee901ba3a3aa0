"""`movie url` and the delivery lines of `movie status`: where a user finds the finished movie.

In production (MOVIE_MODE=production) the movie is the bucket object published/<id>.mp4 and
`movie url` prints a presigned GET URL of it, valid for --expires seconds; locally the movie is
MOVIE_HOME/out/<id>.mp4 and `movie url` prints that path.
"""

from __future__ import annotations

import click

DEFAULT_EXPIRY_S = 3600


def print_delivery(movie_id: str) -> None:
    """The published object (production) and the local file, when there are any."""
    from movie_assets.orchestration.delivery import published_object, published_path
    from movie_assets.producer_resources import producer_resources

    uri = published_object(producer_resources()["store"], movie_id)
    if uri is not None:
        click.echo(f"published object: {uri}")  # plain: a long URI must not be wrapped
    final = published_path(movie_id)
    if final.exists():
        click.echo(str(final))


@click.command()
@click.argument("movie_id")
@click.option(
    "--expires",
    type=int,
    default=DEFAULT_EXPIRY_S,
    show_default=True,
    help="Seconds the URL stays valid (production; 1 to 604800).",
)
def url(movie_id: str, expires: int) -> None:
    """Where to fetch the published video: a presigned URL of the bucket object in production,
    the local file's path otherwise."""
    from movie_assets.cli.terminal import fail
    from movie_assets.orchestration.delivery import published_url
    from movie_assets.producer_resources import producer_resources

    try:
        found = published_url(producer_resources()["store"], movie_id, expires)
    except ValueError as error:
        fail(str(error))
    if found is None:
        fail(
            f"movie {movie_id!r} has no published video yet: build it with "
            f"`movie generate` or `movie regenerate {movie_id}`",
            code=1,
        )
    click.echo(found)
