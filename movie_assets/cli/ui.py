"""`movie ui`: the Dagster UI (webserver and daemon) plus the artifact server for previews.

Stopping: Ctrl-C or SIGTERM stops the whole tree within a few seconds. `dagster dev` runs in its
own session (a terminal's Ctrl-C reaches only `movie ui`), and on a stop every process under it
(webserver, daemon, code server, run workers) gets SIGTERM at once, then SIGKILL after
STOP_GRACE_S: dagster dev's own shutdown waits up to a minute per child.

Start-up shows no warning a user cannot act on: dagster dev starts with its supersession warning
("Use 'dg dev'") filtered and from DAGSTER_HOME, so the repository's dagster.yaml template is not
reported as "will not be used" (the instance's copy in DAGSTER_HOME is the one in use).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

WORKSPACE = Path(__file__).resolve().parents[2] / "workspace.yaml"
STOP_GRACE_S = 3.0

# dagster dev without its "superseded, use dg dev" warning (this project has no dg layout).
_DAGSTER_DEV = (
    "import sys, warnings\n"
    "import dagster\n"
    "warnings.filterwarnings('ignore', category=dagster.SupersessionWarning)\n"
    "from dagster._cli import main\n"
    "sys.argv[0] = 'dagster'\n"
    "main()\n"
)


def dev_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        _DAGSTER_DEV,
        "dev",
        "-w",
        str(WORKSPACE),
        "-h",
        host,
        "-p",
        str(port),
    ]


def stop_tree(pid: int, grace_s: float = STOP_GRACE_S, also: Sequence[int] = ()) -> list[int]:
    """SIGTERM `pid`, every process under it and the processes `also` at once; SIGKILL what is
    left after `grace_s`. Returns the pids that had to be killed."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        tree = []
    for other in also:
        try:
            tree.append(psutil.Process(other))
        except psutil.Error:
            pass
    for process in tree:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(tree, timeout=grace_s)
    # Processes started while the first ones were stopping (a code server restarting).
    for process in list(alive):
        try:
            alive.extend(p for p in process.children(recursive=True) if p not in alive)
        except psutil.Error:
            pass
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=2)
    return [p.pid for p in alive]


def local_run_processes(instance) -> list[int]:
    """The processes of the runs in progress that the UI's launcher started on this host (not
    the CLI's builds). They are not under `dagster dev`: the warm launcher detaches them."""
    import dagster as dg

    from movie_assets.instance.launcher_base import LAUNCHER_TAG, LOCAL_LAUNCHER
    from resources.runtime.processes import WORKER_TAG, token_dead, token_pid

    active = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    pids = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=active)):
        token = run.tags.get(WORKER_TAG)
        if run.tags.get(LAUNCHER_TAG) != LOCAL_LAUNCHER:
            continue
        if token and not token_dead(token) and (pid := token_pid(token)) is not None:
            pids.append(pid)
    return pids


@click.command()
@click.option("--port", default=3000, show_default=True, help="Port of the Dagster UI.")
@click.option("--host", default="127.0.0.1", show_default=True)
def ui(port: int, host: str) -> None:
    """Start the Dagster UI on this project's instance, with previews of every artifact.

    Previews are served on loopback at MOVIE_PREVIEW_URL (default http://127.0.0.1:3001): the
    URLs recorded in materialization metadata point there. Ctrl-C or SIGTERM stops everything
    within seconds."""
    from movie_assets.assets.previews import UI_URL_ENV, preview_base_url, preview_port
    from movie_assets.instance.slot_watch import SlotWatcher
    from movie_assets.orchestration.builder import prepare_instance
    from movie_assets.partitions import SLOTS_ENV
    from resources.runtime.settings import dagster_home, movie_home
    from resources.storage.artifact_server import ArtifactServer

    instance = prepare_instance()
    os.environ["MOVIE_HOME"] = str(movie_home())  # runs launched by the UI use this project
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    os.environ.setdefault(UI_URL_ENV, f"http://{local}:{port}")  # links in descriptions
    child = None
    try:
        with ArtifactServer(movie_home() / "artifacts", preview_port()):
            click.echo(f"previews: {preview_base_url()}", err=True)
            click.echo(f"UI: http://{local}:{port}", err=True)
            # The code server shows only the slots movies plan; the watcher reloads it when
            # they change, and drops movie partitions that have no inputs.
            child = subprocess.Popen(
                dev_command(host, port),
                env={**os.environ, SLOTS_ENV: "planned"},
                cwd=str(dagster_home()),
                start_new_session=True,
            )
            watcher = SlotWatcher(f"http://{local}:{port}/graphql")
            watcher.start()
            code = child.wait()
            sys.exit(code)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the CLI raises both)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)  # a second Ctrl-C does not cut the stop short
        started = time.monotonic()
        if child is not None:
            stop_tree(child.pid, also=local_run_processes(instance))
        click.echo(f"movie ui stopped in {time.monotonic() - started:.1f} s", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        # Nothing is left to clean up; the interpreter's own shutdown (threads, the instance's
        # pools) can take seconds on a loaded machine.
        os._exit(0)
