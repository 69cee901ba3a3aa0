"""The contact sheet on final_video: one tile per shot, even for the largest movie."""

from __future__ import annotations

import subprocess

import numpy as np
from PIL import Image

from resources.media.contact_sheet import GAP, shot_tiles, tile_images, tiles_of
from resources.runtime.settings import ffmpeg_exe


def test_a_sheet_of_150_shots_has_150_tiles(tmp_path):
    # 30 segments x 5 images: more frames than ffmpeg's expression parser takes in one flat sum.
    video = tmp_path / "counter.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x112:rate=30",
         "-t", "20", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )
    strip, out = tmp_path / "tiles.png", tmp_path / "sheet.jpg"
    shot_tiles(video, [i * 0.13 + 0.05 for i in range(150)], strip, fps=30, tile_width=32)
    tile_images(tiles_of(strip, 150), out)
    sheet = np.asarray(Image.open(out).convert("L"), dtype=float)
    # 6 columns x 25 rows of tiles (32 px wide plus 4 px padding), every tile drawn.
    assert sheet.shape[1] >= 6 * 32 and sheet.shape[0] >= 25 * 56
    tile_h = (sheet.shape[0] - 8) / 25
    bright = [sheet[int(r * tile_h) + 8 : int((r + 1) * tile_h), 8:40].mean() for r in range(25)]
    assert min(bright) > 20  # no black (missing) row


def test_tiles_cut_from_a_row_are_laid_out_in_rows_in_order(tmp_path):
    # A row of 7 tiles as shot_tiles writes it (no gaps), each tile a different grey.
    greys = [30 * (i + 1) for i in range(7)]
    row = Image.new("RGB", (7 * 20, 36))
    for i, grey in enumerate(greys):
        row.paste((grey, grey, grey), (i * 20, 0, (i + 1) * 20, 36))
    row.save(tmp_path / "row.png")
    tiles = tiles_of(tmp_path / "row.png", 7)
    out = tmp_path / "sheet.jpg"
    tile_images(tiles, out, columns=6)
    sheet = np.asarray(Image.open(out).convert("L"), dtype=float)
    # 6 columns, 2 rows, GAP px of black between and around the tiles.
    assert sheet.shape == (2 * (36 + GAP) + GAP, 6 * (20 + GAP) + GAP)
    centres = [
        (GAP + (i // 6) * (36 + GAP) + 18, GAP + (i % 6) * (20 + GAP) + 10) for i in range(7)
    ]
    assert [round(sheet[y, x] / 30) for y, x in centres] == [g // 30 for g in greys]
    assert sheet[GAP + 18, GAP + 20 + GAP // 2] < 20  # the gap between two tiles is black
    assert sheet[GAP + 36 + GAP + 18, GAP + 20 + GAP + 10] < 20  # row 2 has one tile only
