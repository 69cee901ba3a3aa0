"""`movie ui`: the Dagster UI (webserver and daemon) plus the artifact server for previews."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

WORKSPACE = Path(__file__).resolve().parent.parent / "workspace.yaml"


@click.command()
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
@click.option("--host", default="127.0.0.1", show_default=True)
def ui(port: int, host: str) -> None:
    """Start the Dagster UI on this project's instance, with previews of every artifact.

    Previews are served on loopback at MOVIE_PREVIEW_URL (default http://127.0.0.1:3001): the
    URLs recorded in materialization metadata point there."""
    from movie_assets.build import prepare_instance
    from movie_assets.partitions import SLOTS_ENV
    from movie_assets.previews import preview_base_url, preview_port
    from movie_assets.slot_watch import SlotWatcher
    from resources.artifact_server import ArtifactServer
    from resources.settings import movie_home

    prepare_instance()
    os.environ["MOVIE_HOME"] = str(movie_home())  # runs launched by the UI use this project
    with ArtifactServer(movie_home() / "artifacts", preview_port()):
        click.echo(f"previews: {preview_base_url()}", err=True)
        dagster = Path(sys.executable).with_name("dagster")
        command = [str(dagster), "dev", "-w", str(WORKSPACE), "-h", host, "-p", str(port)]
        # The code server shows only the slots movies plan; the watcher reloads it when they change.
        child = subprocess.Popen(command, env={**os.environ, SLOTS_ENV: "planned"})
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        watcher = SlotWatcher(f"http://{local}:{port}/graphql")
        watcher.start()
        # SIGTERM stops `movie ui` like Ctrl-C does; dagster dev then stops its own processes.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            sys.exit(child.wait())
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            try:
                sys.exit(child.wait(timeout=60))
            except subprocess.TimeoutExpired:
                child.kill()
                sys.exit(1)
