"""The `movie` command line: one module per command group, terminal output in terminal.py."""

from movie_assets.cli.main import main

__all__ = ["main"]
