"""`movie check ID` and the quality-gate lines of `movie status`."""

import click
from rich.markup import escape
from rich.table import Table

from movie_assets.cli.terminal import console, fail


def print_check_status(instance, movie_id: str) -> int:
    """A table of the quality checks that did not pass; returns how many failed."""
    from movie_assets.checks.quality import check_status

    rows = check_status(instance, movie_id)
    failed = [row for row in rows if row[2] != "passed"]
    passed = len(rows) - len(failed)
    console.print(f"quality checks: {passed} of {len(rows)} passed")
    if failed:
        table = Table(title="quality checks not passed")
        for column in ("check", "partition", "status", "why"):
            table.add_column(column, overflow="fold")
        for name, partition, state, why in failed:
            color = "red" if state == "failed" else "yellow"
            table.add_row(name, escape(partition), f"[{color}]{state}[/]", escape(why))
        console.print(table)
    return sum(row[2] == "failed" for row in rows)


@click.command()
@click.argument("movie_id")
def check(movie_id: str) -> None:
    """Run the quality checks of a movie on its latest artifacts (e.g. after a rollback)."""
    from movie_assets.checks.quality import run_quality_checks
    from movie_assets.orchestration.builder import prepare_instance
    from resources.storage.projects import ProjectStore, UnknownMovie

    try:
        ProjectStore().load(movie_id)
    except (UnknownMovie, ValueError) as error:
        fail(str(error))
    instance = prepare_instance()
    if run_quality_checks(instance, movie_id):
        fail("some checks could not run (see `movie ui`, Runs)", code=1)
    if print_check_status(instance, movie_id):
        raise SystemExit(1)
