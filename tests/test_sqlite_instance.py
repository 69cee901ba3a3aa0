"""The local instance's SQLite storages make one engine per database file and process, and read
alembic's migration scripts once (resources/runtime/sqlite_instance.py), and still store and
read everything as before."""

from __future__ import annotations

import dagster as dg
import sqlalchemy
from alembic.script import ScriptDirectory
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.sql import get_alembic_config

from resources.runtime.sqlite_instance import _KEPT, reused_engine
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
