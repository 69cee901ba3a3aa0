"""End-to-end wall time of `movie generate` for a 60 s movie on the offline default.

    python bench/generate_bench.py [--duration 60] [--images 2]

Target (issue 2): 90 s or less on a 2-core machine. Runs in a fresh temporary MOVIE_HOME, so
nothing is cached: every provider call, render and Dagster run happens.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_cli(home: Path, *args: str) -> float:
    env = {**os.environ, "MOVIE_HOME": str(home)}
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(name, None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "movie_assets.cli", *args], env=env, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    if done.returncode:
        sys.exit(f"movie {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--images", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / ".movie"
        wall = run_cli(
            home,
            "generate",
            "How volcanoes erupt",
            "--duration",
            str(options.duration),
            "--images-per-segment",
            str(options.images),
            "--id",
            "bench",
        )
    print(
        f"movie: {options.duration} s, {options.duration // 10} segments x {options.images} "
        f"images, offline providers, {os.cpu_count()} cores"
    )
    print(f"generate_wall_s: {wall:.1f}  (target <= 90)")
    print(f"wall_per_movie_second: {wall / options.duration:.2f}")


if __name__ == "__main__":
    main()
