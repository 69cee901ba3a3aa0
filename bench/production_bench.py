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

from movie_assets.instance.local_stack import free_ports  # noqa: E402


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


def run_events(instance_dir: Path, env: dict[str, str] | None = None) -> list[dict]:
    """Every run of an instance with its event times (seconds, from the first run's creation)."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        import dagster as dg

        instance = dg.DagsterInstance.from_config(str(instance_dir))
        records = sorted(instance.get_run_records(), key=lambda r: r.create_timestamp.timestamp())
        origin = records[0].create_timestamp.timestamp() if records else 0.0
        runs = []
        for record in records:
            run = record.dagster_run
            if not record.end_time or run.job_name == "in_process_observation_job":
                continue
            times: dict[str, list[float]] = {}
            for entry in instance.all_logs(run.run_id):
                if entry.dagster_event is not None:
                    name = entry.dagster_event.event_type.name
                    times.setdefault(name, []).append(entry.timestamp - origin)
            created = record.create_timestamp.timestamp() - origin
            steps = times.get("STEP_START", [])
            ended = times.get("STEP_SUCCESS", []) + times.get("STEP_FAILURE", [])
            if not steps or not ended:
                continue
            runs.append(
                {
                    "level": run.tags.get("movie/level", run.job_name),
                    "partition": run.tags.get("dagster/partition", ""),
                    "created": created,
                    "launched": min(times.get("RUN_STARTING", [created])),
                    "first_step": min(steps),
                    "last_step": max(ended),
                    "ended": record.end_time - origin,
                }
            )
        return runs
    finally:
        os.environ.clear()
        os.environ.update(saved)


def print_phases(runs: list[dict]) -> None:
    """Per run, seconds spent: queued (created -> launched), worker start (launched -> first
    step), steps (first step start -> last step end), and finishing (last step -> run end)."""
    phases = {
        "queued": [r["launched"] - r["created"] for r in runs],
        "worker start": [r["first_step"] - r["launched"] for r in runs],
        "steps": [r["last_step"] - r["first_step"] for r in runs],
        "finishing": [r["ended"] - r["last_step"] for r in runs],
    }
    for phase, values in phases.items():
        if values:
            print(
                f"  per run, {phase:12}: mean {sum(values) / len(values):5.1f} s, "
                f"max {max(values):5.1f} s"
            )


def print_levels(runs: list[dict]) -> None:
    """Per level: the wall time of its one-run-per-partition runs, against the least a single
    run over the level's partition range could take (its steps one after another in one
    process, plus one worker start), both from the times measured in this run."""
    levels: dict[str, list[dict]] = {}
    for r in runs:
        levels.setdefault(r["level"], []).append(r)
    for level, found in levels.items():
        wall = max(r["ended"] for r in found) - min(r["created"] for r in found)
        single = sum(r["last_step"] - r["first_step"] for r in found)
        single += min(r["first_step"] - r["launched"] for r in found)
        print(
            f"  {level:16} {len(found):2} runs: {wall:6.1f} s one run per partition, "
            f">= {single:6.1f} s as one run over the range"
        )


def print_timeline(runs: list[dict]) -> None:
    for r in runs:
        print(
            f"    {r['level']:16} {r['partition'][:16]:16} created {r['created']:6.1f}"
            f"  launched {r['launched']:6.1f}  steps {r['first_step']:6.1f}-{r['last_step']:6.1f}"
            f"  ended {r['ended']:6.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--timeline", action="store_true", help="print every run's times")
    parser.add_argument("--keep", action="store_true", help="keep the bench folder (printed)")
    options = parser.parse_args()
    args = ["How volcanoes erupt", "--duration", str(options.duration)]
    args += ["--images-per-segment", str(options.images), "--id", "bench"]
    # Outside pytest-style 0700 folders: PostgreSQL runs as its own user when we are root.
    folder = Path(tempfile.mkdtemp(prefix="movie-production-bench-", dir="/tmp"))
    serve = None
    try:
        local = generate(folder / "local", args)
        print(f"local:      {local:7.1f} s")
        local_runs = run_events(folder / "local" / "dagster")

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
        runs = run_events(home / "production" / "dagster", env)
        print(f"production: {production:7.1f} s  ({len(runs)} queued runs)")
        print(f"ratio production/local: {production / local:.2f}x (target <= 1.3x)")
        for name, found in (("local", local_runs), ("production", runs)):
            print(f"{name} runs:")
            print_phases(found)
        print("production levels:")
        print_levels(runs)
        if options.timeline:
            for name, found in (("local", local_runs), ("production", runs)):
                print(f"{name} timeline:")
                print_timeline(found)
    finally:
        if serve is not None and serve.poll() is None:
            serve.send_signal(signal.SIGINT)
            serve.wait(180)
        if options.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
