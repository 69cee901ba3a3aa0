"""The local instance's SQLite storages make one engine per database file and process, read
alembic's migration scripts once, commit without an fsync in WAL mode and keep one connection
per file open (resources/runtime/sqlite_instance.py), and still store and read everything as
before."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import dagster as dg
import sqlalchemy
from alembic.script import ScriptDirectory
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.sql import get_alembic_config
from sqlalchemy.pool import NullPool

from resources.runtime import sqlite_instance
from resources.runtime.sqlite_instance import _KEPT, close_keepers, reused_engine
from tests.helpers import instance_with_movie


def test_the_same_sqlite_database_gets_the_same_engine(tmp_path):
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    first = reused_engine(a, connect_args={"timeout": 15})
    assert reused_engine(a, connect_args={"timeout": 15}) is first
    assert reused_engine(b, connect_args={"timeout": 15}) is not first
    assert reused_engine(a) is not first  # other arguments


def test_only_the_newest_engines_are_kept(tmp_path):
    first = reused_engine(f"sqlite:///{tmp_path / 'first.db'}")
    for number in range(_KEPT):
        reused_engine(f"sqlite:///{tmp_path / f'{number}.db'}")
    assert reused_engine(f"sqlite:///{tmp_path / 'first.db'}") is not first


def test_an_instance_makes_one_engine_per_database_and_reads_migrations_once(
    tmp_path, monkeypatch
):
    made: list[str] = []
    create_engine = sqlalchemy.create_engine

    def counted(url, **kwargs):
        made.append(str(url))
        return create_engine(url, **kwargs)

    monkeypatch.setattr(sqlalchemy, "create_engine", counted)
    instance = instance_with_movie(tmp_path / ".movie", monkeypatch, "bees")
    try:
        for number in range(20):
            instance.add_dynamic_partitions("movie", [f"m{number}"])
            assert instance.has_dynamic_partition("movie", f"m{number}")
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="probe"))
        assert len(instance.get_dynamic_partitions("movie")) == 21
        assert len(instance.fetch_materializations(dg.AssetKey("probe"), limit=100).records) == 20
    finally:
        instance.dispose()
    assert made, "the instance made no engine: the test would measure nothing"
    assert len(made) == len(set(made)), sorted(made)
    config = get_alembic_config(sqlite_event_log.__file__)
    assert ScriptDirectory.from_config(config) is ScriptDirectory.from_config(config)


def _pragma(path, name: str):
    with closing(sqlite3.connect(path)) as connection:  # sqlite3's own `with` does not close
        return connection.execute(f"PRAGMA {name}").fetchone()[0]


def test_commits_skip_fsync_in_wal_mode_and_a_kept_connection_spares_the_checkpoint(tmp_path):
    database = tmp_path / "new.db"
    engine = reused_engine(f"sqlite:///{database}", poolclass=NullPool)  # as Dagster's
    with engine.connect() as connection:  # a new, empty file: made WAL before any table
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        connection.commit()
    assert _pragma(database, "journal_mode") == "wal"
    assert synchronous == 1  # NORMAL: a commit appends to the WAL, no fsync
    for number in range(5):
        with engine.connect() as connection:
            connection.exec_driver_sql(f"INSERT INTO t VALUES ({number})")
            connection.commit()
    # Each query's connection closed, yet the WAL is still there: the kept connection is open,
    # so none of those closes was the last one (which checkpoints, syncs and deletes the WAL).
    assert Path(f"{database}-wal").exists()
    close_keepers()
    assert not Path(f"{database}-wal").exists()  # the last close checkpointed
    assert _pragma(database, "journal_mode") == "wal"
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("SELECT count(*) FROM t").fetchone()[0] == 5


def test_a_database_in_rollback_mode_keeps_full_sync(tmp_path):
    database = tmp_path / "old.db"
    with closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
    engine = reused_engine(f"sqlite:///{database}", poolclass=NullPool)  # as Dagster's
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    assert _pragma(database, "journal_mode") == "delete"  # not changed under its owner
    assert str(database) not in sqlite_instance._keepers


def test_a_forked_child_leaves_its_parents_kept_connections_alone(tmp_path):
    database = tmp_path / "shared.db"
    engine = reused_engine(f"sqlite:///{database}", poolclass=NullPool)  # as Dagster's
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        connection.commit()
    assert str(database) in sqlite_instance._keepers
    pid = os.fork()
    if pid == 0:  # the child: nothing inherited is kept as its own, nothing is closed
        code = 0 if not sqlite_instance._keepers else 1
        close_keepers()
        os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    keeper = sqlite_instance._keepers[str(database)]
    assert keeper.execute("SELECT count(*) FROM t").fetchone()[0] == 0  # still usable
    assert Path(f"{database}-wal").exists()
    close_keepers()


def test_a_built_run_leaves_no_wal_file(tmp_path, monkeypatch):
    instance = instance_with_movie(tmp_path / ".movie", monkeypatch, "bees")
    try:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="probe"))
        assert len(instance.fetch_materializations(dg.AssetKey("probe"), limit=10).records) == 1
    finally:
        instance.dispose()
    close_keepers()  # what a process does at exit and a build worker after each run
    assert not list((tmp_path / ".movie").rglob("*-wal"))
