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
- Commits without an fsync: WAL mode from a file's creation, `synchronous=NORMAL`, and one
  connection kept open per file so that closing a query's connection does not checkpoint
  (`_stay_in_wal_cheaply` says what SQLite guarantees then). A 10 s movie's build made about
  2,700 fsyncs, now about 200, most of them the artifacts' own.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded by Dagster with its storages; importing it here would cost 0.2 s
    import sqlalchemy

_KEPT = 64  # an event-log shard per run: a long-lived process must not keep one per run ever
_engines: OrderedDict[tuple, sqlalchemy.engine.Engine] = OrderedDict()
_scripts: dict[tuple, Any] = {}
_keepers: dict[str, Any] = {}  # database file -> an idle sqlite3 connection (see below)
_inherited: list[Any] = []
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
            sqlalchemy.event.listen(engine, "connect", _stay_in_wal_cheaply)
            if len(_engines) > _KEPT:
                _, evicted = _engines.popitem(last=False)
                keeper = _keepers.pop(evicted.url.database, None)
                if keeper is not None:
                    keeper.close()
        else:
            _engines.move_to_end(key)
        return engine


def _stay_in_wal_cheaply(connection, _record) -> None:
    """Two settings for a database in WAL mode (Dagster puts each of its SQLite files in WAL
    mode once created; a new, empty file is put in WAL mode here, first).

    - `synchronous=NORMAL`: a commit appends to the WAL without an fsync; the WAL is synced at
      checkpoints. SQLite's guarantee for this mode: no corruption on power loss, and every
      commit survives a crash or kill of the process; a power loss or OS crash can undo the
      last commits (their runs are then rebuilt, from the cached artifacts).
    - One idle connection kept open per file and process (`_keepers`). Dagster connects anew
      for every query (NullPool), and the last connection to close checkpoints the WAL, syncs
      the database and deletes the WAL: three fsyncs per event stored. With a connection kept,
      SQLite checkpoints every 1,000 pages instead. An idle WAL connection holds no lock that
      blocks a reader or writer.

    A 10 s movie's build made about 2,700 fsyncs under Dagster's defaults."""
    cursor = connection.cursor()
    try:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            (pages,) = cursor.execute("PRAGMA page_count").fetchone()
            if pages:  # an existing database in rollback mode: not this code's to change
                return
            # A new file (a run's event-log shard): WAL before Dagster creates its ~30 tables
            # and indexes, each a transaction with three fsyncs in rollback mode. Dagster
            # switches it to WAL right after anyway.
            (mode,) = cursor.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                return
        cursor.execute("PRAGMA synchronous=NORMAL")
        path = cursor.execute("PRAGMA database_list").fetchone()[2]
    finally:
        cursor.close()
    _keep_open(path)


def _keep_open(path: str) -> None:
    import sqlite3

    with _lock:
        if not path or path in _keepers:
            return
        keeper = sqlite3.connect(path, check_same_thread=False)
        # One read opens the WAL; from then on the connection holds the shared lock that tells
        # a closing connection it is not the last one.
        keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()
        _keepers[path] = keeper


def close_keepers() -> None:
    """Close the kept connections: each last one checkpoints its WAL into the database and
    removes the WAL files. At exit, and after each run in a build worker (which ends with
    `os._exit`), so no run leaves a WAL file behind."""
    with _lock:
        keepers = list(_keepers.values())
        _keepers.clear()
    for keeper in keepers:
        keeper.close()


def _forget_keepers_in_child() -> None:
    """A forked child must neither use nor close its parent's connections (closing one could
    checkpoint the WAL under the parent's feet): they are parked, never touched again. The
    lock may have been held by another of the parent's threads."""
    global _lock
    _lock = threading.Lock()
    _inherited.extend(_keepers.values())
    _keepers.clear()


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
    os.register_at_fork(after_in_child=_forget_keepers_in_child)
    atexit.register(close_keepers)


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
