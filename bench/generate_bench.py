"""End-to-end wall time of `movie generate` for a 60 s movie on the offline default, and on
the previous offline providers, in one run.

    python bench/generate_bench.py [--duration 60] [--images 2]

Targets: 90 s or less on a 2-core machine (issue 2); the offline default (piper voice, OpenMoji
illustrator, lexicon writer) at most 1.3x the previous offline providers (espeak-ng, painter,
template writer: MOVIE_TTS=espeak MOVIE_IMAGES=painter MOVIE_LLM=template) (issue 18). Each
build runs in a fresh temporary MOVIE_HOME, so nothing is cached: every provider call, render
and Dagster run happens.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREVIOUS = {"MOVIE_TTS": "espeak", "MOVIE_IMAGES": "painter", "MOVIE_LLM": "template"}


def run_cli(home: Path, *args: str, providers: dict[str, str] | None = None) -> float:
    env = {**os.environ, "MOVIE_HOME": str(home)}
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "OPENAI_BASE_URL", *PREVIOUS):
        env.pop(name, None)
    env.update(providers or {})
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "movie_assets.cli", *args],
        env=env,
        capture_output=True,
        text=True,
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
    args = [
        "generate",
        "How volcanoes erupt",
        "--duration",
        str(options.duration),
        "--images-per-segment",
        str(options.images),
        "--id",
        "bench",
    ]
    walls = {}
    for name, providers in (("previous", PREVIOUS), ("default", {})):
        with tempfile.TemporaryDirectory() as tmp:
            walls[name] = run_cli(Path(tmp) / ".movie", *args, providers=providers)
    wall = walls["default"]
    print(
        f"movie: {options.duration} s, {options.duration // 10} segments x {options.images} "
        f"images, offline providers, {os.cpu_count()} cores"
    )
    print(f"generate_wall_s: {wall:.1f}  (offline default: piper, illustrator, fact writer; "
          "target <= 90)")
    print(f"previous_providers_wall_s: {walls['previous']:.1f}  (espeak-ng, painter, template)")
    print(f"ratio_default_to_previous: {wall / walls['previous']:.2f}  (target <= 1.3)")
    print(f"wall_per_movie_second: {wall / options.duration:.2f}")


if __name__ == "__main__":
    main()
