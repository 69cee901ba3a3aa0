"""Regenerating after a one-shot edit, as a fraction of the full generation of the same movie.

    python bench/regenerate_bench.py

A 6 x 2 movie (60 s, 2 images per segment) is generated from scratch, one shot's prompt is
edited, and `movie regenerate` rebuilds what depends on it (1 image, 1 segment, timeline,
final video). Target (issue 3): regenerate / generate <= 0.2. Both are measured in this run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_bench import run_cli  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / ".movie"
        full = run_cli(
            home,
            "generate",
            "The water cycle",
            "--duration",
            "60",
            "--images-per-segment",
            "2",
            "--id",
            "bench",
        )
        edit = run_cli(
            home,
            "edit",
            "bench",
            "--shot",
            "s03i1",
            "--image-prompt",
            "A storm cloud over the sea at dusk",
        )
        regen = run_cli(home, "regenerate", "bench")
        lines = (home / "ledger.jsonl").read_text().splitlines()
    print(f"movie: 6 segments x 2 images, offline providers, {os.cpu_count()} cores")
    print(f"full_generate_s: {full:.1f}")
    print(f"edit_s: {edit:.1f}")
    print(f"regenerate_after_one_shot_edit_s: {regen:.1f}")
    print(f"regenerate_fraction: {regen / full:.3f}  (target <= 0.2)")
    print(f"edit_plus_regenerate_fraction: {(edit + regen) / full:.3f}")
    print(f"provider_calls_total: {len(lines)} (28 to build a 6 x 2 movie, +1 for the edit)")


if __name__ == "__main__":
    main()
