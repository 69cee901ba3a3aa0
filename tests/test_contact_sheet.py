"""The contact sheet on final_video: one tile per shot, even for the largest movie."""

from __future__ import annotations

import subprocess

import numpy as np
from PIL import Image

from resources.media.contact_sheet import contact_sheet
from resources.runtime.settings import ffmpeg_exe


def test_a_sheet_of_150_shots_has_150_tiles(tmp_path):
    # 30 segments x 5 images: more frames than ffmpeg's expression parser takes in one flat sum.
    video = tmp_path / "counter.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x112:rate=30",
         "-t", "20", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )
    out = tmp_path / "sheet.jpg"
    contact_sheet(video, [i * 0.13 + 0.05 for i in range(150)], out, fps=30, tile_width=32)
    sheet = np.asarray(Image.open(out).convert("L"), dtype=float)
    # 6 columns x 25 rows of tiles (32 px wide plus 4 px padding), every tile drawn.
    assert sheet.shape[1] >= 6 * 32 and sheet.shape[0] >= 25 * 56
    tile_h = (sheet.shape[0] - 8) / 25
    bright = [sheet[int(r * tile_h) + 8 : int((r + 1) * tile_h), 8:40].mean() for r in range(25)]
    assert min(bright) > 20  # no black (missing) row
