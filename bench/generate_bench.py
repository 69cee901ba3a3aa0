"""End-to-end wall time of `movie generate` for a 60 s movie on the offline default, and on
the previous offline providers, in one run.

    python bench/generate_bench.py [--duration 60] [--images 2] [--rounds 1] [--default-only]

The 300 s x 5 images movie of issue 21 (target: under 180 s on 2 cores), without the previous
producers' build beside it:

    python bench/generate_bench.py --duration 300 --images 5 --default-only

With --rounds N the two builds alternate N times and the medians are printed, so a load that
comes and goes falls on both alike. Beside wall time it prints the CPU seconds the build's
processes used (user + system, every child process included) and the CPU utilisation
(CPU seconds / wall / cores): the CPU ratio is the steadier figure on a busy machine.

Targets: 90 s or less on a 2-core machine (issue 2); the offline default (piper voice, OpenMoji
illustrator, lexicon writer) at most 1.3x the previous offline providers (espeak-ng, painter,
template writer: MOVIE_TTS=espeak MOVIE_IMAGES=painter MOVIE_LLM=template) (issue 18). Each
build runs in a fresh temporary MOVIE_HOME, so nothing is cached: every provider call, render
and Dagster run happens.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREVIOUS = {"MOVIE_TTS": "espeak", "MOVIE_IMAGES": "painter", "MOVIE_LLM": "template"}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cli(
    home: Path, *args: str, providers: dict[str, str] | None = None
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `movie` command and every process it started."""
    env = {**os.environ, "MOVIE_HOME": str(home)}
    for name in ("DAGSTER_HOME", "OPENAI_API_KEY", "OPENAI_BASE_URL", *PREVIOUS):
        env.pop(name, None)
    env.update(providers or {})
    started, cpu_before = time.monotonic(), _children_cpu_s()
    done = subprocess.run(
        [sys.executable, "-m", "movie_assets.cli", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed, cpu = time.monotonic() - started, _children_cpu_s() - cpu_before
    if done.returncode:
        sys.exit(f"movie {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="alternate the builds N times")
    parser.add_argument(
        "--default-only", action="store_true", help="build only on the offline default"
    )
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
    walls: dict[str, list[float]] = {"previous": [], "default": []}
    cpus: dict[str, list[float]] = {"previous": [], "default": []}
    builds = [("previous", PREVIOUS), ("default", {})]
    if options.default_only:
        builds = builds[1:]
    for _ in range(options.rounds):
        for name, providers in builds:
            with tempfile.TemporaryDirectory() as tmp:
                wall, cpu = run_cli(Path(tmp) / ".movie", *args, providers=providers)
            walls[name].append(wall)
            cpus[name].append(cpu)
    wall, cpu = statistics.median(walls["default"]), statistics.median(cpus["default"])
    cores = os.cpu_count() or 1
    print(
        f"movie: {options.duration} s, {options.duration // 10} segments x {options.images} "
        f"images, offline producers, {cores} cores, median of {options.rounds} round(s)"
    )
    print(f"generate_wall_s: {wall:.1f}  (offline default: piper, illustrator, fact writer; "
          "target <= 90 for 60 s, < 180 for 300 s x 5)")
    print(f"cpu_s: {cpu:.1f}; cpu_utilisation: {cpu / wall / cores:.0%} of {cores} cores")
    print(f"wall_per_movie_second: {wall / options.duration:.2f}  (target <= 0.6, issue 21)")
    if options.default_only:
        return
    previous = statistics.median(walls["previous"])
    previous_cpu = statistics.median(cpus["previous"])
    print(f"previous_producers_wall_s: {previous:.1f}  (espeak-ng, painter, template)")
    print(f"ratio_default_to_previous: {wall / previous:.2f}  (target <= 1.3)")
    print(f"cpu_s: {cpu:.1f} default, {previous_cpu:.1f} previous; "
          f"ratio {cpu / previous_cpu:.2f}")
    print(f"cpu_utilisation: {cpu / wall / cores:.0%} default, "
          f"{previous_cpu / previous / cores:.0%} previous (of {cores} cores)")
    print("all walls: " + ", ".join(
        f"{name} {' '.join(f'{w:.1f}' for w in values)}" for name, values in walls.items()
    ))


if __name__ == "__main__":
    main()
