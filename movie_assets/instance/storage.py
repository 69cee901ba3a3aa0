"""The production instance's storage: dagster-postgres, keeping a few connections open per process.

Outside the webserver, dagster-postgres opens a new PostgreSQL connection for every query
(NullPool), so that idle processes hold none. One partition run makes about 200 queries, and a
new connection costs a forked server backend: measured 1.6 s of a 2.8 s run on 2 cores. Our
processes are few (CLI, daemon, code server, run workers), so each keeps the small pool the
webserver keeps (one connection, a few more under load), with no statement timeout.
"""

from __future__ import annotations

from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

POOL_RECYCLE_S = 3600
MAX_OVERFLOW = 4


class PooledPostgresStorage(DagsterPostgresStorage):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for storage in (self.run_storage, self.event_log_storage, self.schedule_storage):
            # The webserver's pooled engine; a statement timeout of 0 means none.
            storage.optimize_for_webserver(0, POOL_RECYCLE_S, MAX_OVERFLOW)

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
