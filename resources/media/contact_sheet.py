"""A contact sheet: one frame per shot of a rendered movie, tiled into a single JPEG.

Frames are taken from the final video itself (not from the shot images), so the sheet shows what
the viewer sees, captions and motion included. One ffmpeg pass: select the frames, scale, tile.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from resources.runtime.settings import ffmpeg_exe


def shot_midpoints(segments: int, shots_per_segment: int, segment_s: float) -> list[float]:
    """The middle of each shot, in seconds, when each segment shows its shots in equal turns."""
    share = segment_s / shots_per_segment
    return [
        s * segment_s + (i + 0.5) * share for s in range(segments) for i in range(shots_per_segment)
    ]


def contact_sheet(
    video: Path,
    times_s: list[float],
    out_path: Path,
    *,
    fps: int,
    columns: int = 6,
    tile_width: int = 180,
) -> None:
    if not times_s:
        raise ValueError("times_s: give at least one moment of the video")
    frames = sorted({round(t * fps) for t in times_s})
    columns = min(columns, len(frames))
    rows = math.ceil(len(frames) / columns)
    # ffmpeg's expression parser nests one level per "+": a flat sum of ~100 terms runs out
    # (it reports "Cannot allocate memory"), so the terms are summed in groups of ten.
    terms = [f"eq(n\\,{n})" for n in frames]
    pick = "+".join("(" + "+".join(terms[i : i + 10]) + ")" for i in range(0, len(terms), 10))
    graph = (
        f"select='{pick}',scale={tile_width}:-2,"
        f"tile={columns}x{rows}:padding=4:margin=4:color=black"
    )
    done = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-i",
            str(video),
            "-an",
            "-vf",
            graph,
            "-frames:v",
            "1",
            "-fps_mode",
            "vfr",
            "-q:v",
            "3",
            str(out_path),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"contact sheet of {video.name} failed: {done.stderr.strip()[-500:]}")
