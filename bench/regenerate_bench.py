"""Regenerating after a one-shot edit, as a fraction of the full generation of the same movie.

    python bench/regenerate_bench.py

A 6 x 2 movie (60 s, 2 images per segment) is generated from scratch, one shot's prompt is
edited, and `movie regenerate` rebuilds what depends on it (1 image, 1 segment, timeline,
final video). Target (issue 21): regenerate / generate <= 0.15. Both are measured in this run.
The edited segment re-encodes only the chunks that show the edited shot (its body and the
crossfade into it); the final join is a stream copy and the soundtrack is reused.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_bench import run_cli  # noqa: E402


def last_metadata(home: Path, asset: str, partition: str) -> dict:
    """The metadata of the partition's latest materialization, as plain values."""
    os.environ["MOVIE_HOME"] = str(home)
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]),
        limit=1,
    ).records
    if not records:
        return {}
    metadata = records[0].asset_materialization.metadata
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / ".movie"
        full, full_cpu = run_cli(
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
        edit, _ = run_cli(
            home,
            "edit",
            "bench",
            "--shot",
            "s03i1",
            "--image-prompt",
            "A storm cloud over the sea at dusk",
        )
        regen, regen_cpu = run_cli(home, "regenerate", "bench")
        lines = (home / "ledger.jsonl").read_text().splitlines()
        rebuilt = last_metadata(home, "segment_visual", "bench|s03")
        final = last_metadata(home, "final_video", "bench")
    print(f"movie: 6 segments x 2 images, offline providers, {os.cpu_count()} cores")
    print(f"full_generate_s: {full:.1f} ({full_cpu:.1f} CPU-s)")
    print(f"edit_s: {edit:.1f}")
    print(f"regenerate_after_one_shot_edit_s: {regen:.1f} ({regen_cpu:.1f} CPU-s)")
    print(f"regenerate_fraction: {regen / full:.3f}  (target <= 0.15)")
    print(f"edit_plus_regenerate_fraction: {(edit + regen) / full:.3f}")
    print(
        f"edited segment s03: {rebuilt.get('chunks_rendered')} of {rebuilt.get('chunks')} chunks "
        f"encoded again; soundtrack reused: {final.get('soundtrack_reused')}"
    )
    print(f"provider_calls_total: {len(lines)} (28 to build a 6 x 2 movie, +1 for the edit)")


if __name__ == "__main__":
    main()
