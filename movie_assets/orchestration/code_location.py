"""The code location that the builder, the queue, migration and the checks run against.

They sit below definitions.py (its jobs and the command line call them), so they do not import
it: definitions.py hands its Definitions down with `register` as it loads. A process that has
not loaded it yet (a worker of the builder's pool, a test calling the builder directly) loads
it by module name, the way Dagster's workspace names a code location (workspace.yaml).
"""

from __future__ import annotations

import importlib

import dagster as dg

MODULE = "movie_assets.definitions"

_defs: dg.Definitions | None = None


def register(defs: dg.Definitions) -> None:
    global _defs
    _defs = defs


def definitions() -> dg.Definitions:
    """The project's one Definitions object."""
    if _defs is None:
        importlib.import_module(MODULE)  # registers itself
    if _defs is None:
        raise RuntimeError(f"{MODULE} did not register its Definitions")
    return _defs
