"""A contact sheet: one frame per shot of a rendered movie, tiled into a single JPEG.

Frames are taken from the rendered video (not from the shot images), so the sheet shows what the
viewer sees, captions and motion included. `shot_tiles` decodes a video once and keeps the
frames asked for as one row of tiles; `tile_images` lays tiles out in rows. The movie's sheet is
made from its segment videos (the final video is their stream copy, frame for frame), so a rebuild
decodes only the segments that changed, not the whole movie.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from PIL import Image

from resources.runtime.settings import ffmpeg_exe

# Part of the cache key of a segment's tiles: a change to how tiles are made makes them again.
TILES_METHOD = "shot-tiles-1"
TILE_WIDTH = 180
GAP = 4  # black between tiles and around the sheet, in pixels


def shot_midpoints(segments: int, shots_per_segment: int, segment_s: float) -> list[float]:
    """The middle of each shot, in seconds, when each segment shows its shots in equal turns."""
    share = segment_s / shots_per_segment
    return [
        s * segment_s + (i + 0.5) * share for s in range(segments) for i in range(shots_per_segment)
    ]


def shot_tiles(
    video: Path, times_s: list[float], out_path: Path, *, fps: int, tile_width: int = TILE_WIDTH
) -> None:
    """The frames of `video` at `times_s`, scaled to tile_width, side by side in one PNG row
    (no gaps: `tile_images` cuts it up again). One decoding pass."""
    if not times_s:
        raise ValueError("times_s: give at least one moment of the video")
    frames = sorted({round(t * fps) for t in times_s})
    # ffmpeg's expression parser nests one level per "+": a flat sum of ~100 terms runs out
    # (it reports "Cannot allocate memory"), so the terms are summed in groups of ten.
    terms = [f"eq(n\\,{n})" for n in frames]
    pick = "+".join("(" + "+".join(terms[i : i + 10]) + ")" for i in range(0, len(terms), 10))
    graph = f"select='{pick}',scale={tile_width}:-2,tile={len(frames)}x1"
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
            "-f",
            "image2",
            "-c:v",
            "png",
            str(out_path),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not out_path.exists():
        raise RuntimeError(f"frames of {video.name} failed: {done.stderr.strip()[-500:]}")


def tiles_of(strip: Path, count: int) -> list[Image.Image]:
    """The `count` tiles of a row made by `shot_tiles`."""
    with Image.open(strip) as image:
        row = image.convert("RGB")
    width = row.width // count
    return [row.crop((i * width, 0, (i + 1) * width, row.height)) for i in range(count)]


def tile_images(tiles: list[Image.Image], out_path: Path, *, columns: int = 6) -> None:
    """Tiles in rows of `columns`, GAP pixels of black between and around them, as one JPEG."""
    if not tiles:
        raise ValueError("tiles: give at least one image")
    columns = min(columns, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    cell_w, cell_h = max(t.width for t in tiles), max(t.height for t in tiles)
    sheet = Image.new(
        "RGB", (columns * (cell_w + GAP) + GAP, rows * (cell_h + GAP) + GAP), "black"
    )
    for i, tile in enumerate(tiles):
        x, y = GAP + (i % columns) * (cell_w + GAP), GAP + (i // columns) * (cell_h + GAP)
        sheet.paste(tile, (x, y))
    sheet.save(out_path, format="JPEG", quality=85)

