"""What verifying artifacts costs a `movie regenerate` that has nothing to do.

    python bench/verify_bench.py [--duration 300] [--images 5] [--home DIR]

Builds the movie once (or reuses --home), then, in one process and in the same run, times the
planning that `movie regenerate` does (Dagster's staleness of every planned partition) with and
without the integrity check of every referenced artifact, and the whole `movie regenerate`
command. The check stats each file and reads its remembered stamp; a file is hashed only when it
changed (the "cold" figure: every stamp removed, every file hashed once). Target (issue 16): the
checks add under 10% to a regenerate with nothing to do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_bench import run_cli  # noqa: E402


def _plan_seconds(movie_id: str, check: bool) -> float:
    """One planning pass (what `movie regenerate` does before it builds), with or without
    the artifact checks."""
    import movie_assets.orchestration.builder as build
    from resources.storage.projects import ProjectStore

    instance = build.prepare_instance()
    inputs = ProjectStore().load(movie_id)
    real = build.damaged_artifacts
    build.damaged_artifacts = real if check else (lambda *args: {})
    try:
        started = time.perf_counter()
        assert build.pending_work(instance, movie_id, inputs) == {}
        return time.perf_counter() - started
    finally:
        build.damaged_artifacts = real


def _paired(movie_id: str, repeat: int) -> tuple[float, float]:
    """Medians of planning without and with checks, alternated so load drifts hit both."""
    _plan_seconds(movie_id, check=True)  # warm caches (SQLite pages, imports) first
    without, with_checks = [], []
    for _ in range(repeat):
        without.append(_plan_seconds(movie_id, check=False))
        with_checks.append(_plan_seconds(movie_id, check=True))
    return statistics.median(without), statistics.median(with_checks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=300)
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    tmp = None
    home = args.home
    if home is None:
        tmp = tempfile.mkdtemp(prefix="verify-bench-")
        home = Path(tmp) / ".movie"
    os.environ["MOVIE_HOME"] = str(home)
    os.environ.pop("DAGSTER_HOME", None)
    try:
        if not (home / "movies" / "bench" / "inputs.json").exists():
            build_s = run_cli(
                home, "generate", "The water cycle", "--duration", str(args.duration),
                "--images-per-segment", str(args.images), "--id", "bench",
            )
            print(f"build_s: {build_s:.1f}")
        files = sum(1 for _ in (home / "artifacts" / "sha256").rglob("*.*"))
        megabytes = sum(p.stat().st_size for p in (home / "artifacts").rglob("*.*")) / 1e6
        regenerate_s = min(run_cli(home, "regenerate", "bench") for _ in range(3))
        without, warm = _paired("bench", args.repeat)
        shutil.rmtree(home / "artifacts" / "verified", ignore_errors=True)
        cold = _plan_seconds("bench", check=True)
        print(f"movie: {args.duration} s x {args.images} images; {files} stored files, "
              f"{megabytes:.0f} MB; {os.cpu_count()} cores")
        print(f"regenerate_nothing_to_do_s: {regenerate_s:.2f} (whole command, best of 3)")
        print(f"planning_without_checks_s: {without:.3f}")
        print(f"planning_with_checks_s: {warm:.3f}")
        added = warm - without
        print(f"checks_added_s: {added:.3f} = {added / (regenerate_s - added):.1%} of a "
              "regenerate without them (target < 10%)")
        print(f"cold_checks_s: {cold - without:.3f} (every file hashed once, stamps rebuilt)")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
