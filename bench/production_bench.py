"""The same movie in local mode and in production mode (target: production <= 1.3x local).

Local: `movie generate` runs every partition in its own worker pool against a SQLite instance.
Production: `movie serve` (PostgreSQL, SeaweedFS, code server, webserver, daemon) is started
first, and not timed; `movie generate` with MOVIE_MODE=production then submits one run per
partition to the queue, and the daemon launches each through the code server. Prints both wall
times, their ratio, and what a queued run waits before it starts.

    python bench/production_bench.py [--duration 60] [--images 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from movie_assets.stack import free_ports  # noqa: E402


def clean_env() -> dict[str, str]:
    drop = ("MOVIE_", "DAGSTER_", "AWS_", "OPENAI_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def generate(home: Path, args: list[str], extra: dict[str, str] | None = None) -> float:
    env = {**clean_env(), "MOVIE_HOME": str(home), **(extra or {})}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "movie_assets.cli", "generate", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"generate failed:\n{done.stderr[-3000:]}")
    return wall


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name] = value.strip("'")
    values.pop("MOVIE_PG_PASSWORD", None)
    return values


def queue_waits(env: dict[str, str], home: Path) -> list[float]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        import dagster as dg

        instance = dg.DagsterInstance.from_config(str(home / "production" / "dagster"))
        return [
            r.start_time - r.create_timestamp.timestamp()
            for r in instance.get_run_records()
            if r.start_time and r.dagster_run.job_name != "in_process_observation_job"
        ]
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--images", type=int, default=2)
    options = parser.parse_args()
    args = ["How volcanoes erupt", "--duration", str(options.duration)]
    args += ["--images-per-segment", str(options.images), "--id", "bench"]
    # Outside pytest-style 0700 folders: PostgreSQL runs as its own user when we are root.
    folder = Path(tempfile.mkdtemp(prefix="movie-production-bench-", dir="/tmp"))
    serve = None
    try:
        local = generate(folder / "local", args)
        print(f"local:      {local:7.1f} s")

        home = folder / "production"
        port, s3_port, pg_port = free_ports(3)
        log = folder / "serve.log"
        with open(log, "wb") as out:
            serve = subprocess.Popen(
                [sys.executable, "-m", "movie_assets.cli", "serve", "--port", str(port)]
                + ["--s3-port", str(s3_port), "--pg-port", str(pg_port)],
                env={**clean_env(), "MOVIE_HOME": str(home)},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        while f"serving http://127.0.0.1:{port}" not in log.read_text():
            if serve.poll() is not None:
                raise SystemExit(f"movie serve failed:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        env = read_env(home / "production" / "env")
        production = generate(home, args, env)
        waits = queue_waits(env, home)
        print(f"production: {production:7.1f} s  ({len(waits)} queued runs)")
        print(f"ratio production/local: {production / local:.2f}x (target <= 1.3x)")
        if waits:
            print(
                f"queued -> started per run: mean {sum(waits) / len(waits):.1f} s, "
                f"max {max(waits):.1f} s"
            )
    finally:
        if serve is not None and serve.poll() is None:
            serve.send_signal(signal.SIGINT)
            serve.wait(180)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
