"""Dagster assets of the movie build system. The Definitions object is in definitions.py.

Every process that imports this package (the CLI, its run workers, the code server, the daemon
through the instance's storage and run coordinator, run workers of the launchers) stores and
logs nothing secret: Dagster events, run tags and Python log records are masked here, once
(resources/runtime/secrets.py). Dagster's SQLite storages (the local instance) reuse one engine
per database and read alembic's migration scripts once (resources/runtime/sqlite_instance.py)."""

from resources.runtime.secrets import install_dagster_redaction, install_logging_redaction
from resources.runtime.sqlite_instance import install_sqlite_reuse

install_logging_redaction()
install_dagster_redaction()
install_sqlite_reuse()
