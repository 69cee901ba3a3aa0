"""Dagster's SQLite storages (the local instance), made cheap per query.

- One SQLAlchemy engine per database file and process. The storages (runs, event log shards,
  schedules) call `create_engine` for every connection: every event stored, every record read.
  An engine holds SQLAlchemy's compiled-statement cache, so each query built and compiled its SQL
  anew: 12.7 of the 28 CPU-s that Python held the GIL for in a 60 s movie's build (py-spy), 7.4
  after. Engines keep Dagster's NullPool: no connection stays open between queries, so SQLite
  locks are held exactly as long as before, and a forked process inherits no open connection.
- Alembic's script directory read once per process. Opening an instance checks each storage's
  schema revision, and every run's new event-log shard is stamped with it; each time alembic
  loaded all of Dagster's migration scripts again (1.7 CPU-s of the same build).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded by Dagster with its storages; importing it here would cost 0.2 s
    import sqlalchemy

_KEPT = 64  # an event-log shard per run: a long-lived process must not keep one per run ever
_engines: OrderedDict[tuple, sqlalchemy.engine.Engine] = OrderedDict()
_scripts: dict[tuple, Any] = {}
_lock = threading.Lock()
_installed = False


def reused_engine(url: str, **kwargs: Any) -> sqlalchemy.engine.Engine:
    """`sqlalchemy.create_engine(url, **kwargs)`, made once per process for the same arguments
    when the URL is a SQLite file; anything else gets a new engine as before."""
    import sqlalchemy

    if not str(url).startswith("sqlite:"):
        return sqlalchemy.create_engine(url, **kwargs)
    key = (str(url), repr(sorted(kwargs.items())))  # every argument counts, as before
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = sqlalchemy.create_engine(url, **kwargs)
            if len(_engines) > _KEPT:
                _engines.popitem(last=False)
        else:
            _engines.move_to_end(key)
        return engine


def install_sqlite_reuse() -> None:
    """Reuse engines and alembic's script directories (see the module's docstring) from the
    moment an instance first opens its storage; Dagster loads its storage modules only then."""
    global _installed
    if _installed:
        return
    _installed = True
    from resources.runtime.dagster_private import InstanceRef

    opened = InstanceRef.storage.fget
    patched = False

    def storage(self):
        nonlocal patched
        if not patched:
            patched = True
            _patch_storages()
        return opened(self)

    InstanceRef.storage = property(storage)


def _patch_storages() -> None:
    """Dagster's SQLite storages name `create_engine` at module level and `dispose()` the engine
    after each query, which with NullPool closes nothing and leaves the engine usable."""
    import importlib

    from alembic.script import ScriptDirectory

    from resources.runtime.dagster_private import SQLITE_STORAGE_MODULES

    for name in SQLITE_STORAGE_MODULES:
        importlib.import_module(name).create_engine = reused_engine

    read = ScriptDirectory.from_config.__func__

    def from_config(cls, config):
        # The migration scripts are files of the installed Dagster: they do not change while a
        # process runs. The directory object only reads them (and memoizes their revision map).
        key = (
            cls,
            config.get_alembic_option("script_location"),
            config.get_main_option("version_locations"),
        )
        with _lock:
            if key not in _scripts:
                _scripts[key] = read(cls, config)
            return _scripts[key]

    ScriptDirectory.from_config = classmethod(from_config)
