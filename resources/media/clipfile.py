"""Writing generated frames as an H.264 clip through PyAV (its wheel bundles libx264).

Producers hand over frames (uint8 RGB arrays or PIL images) as they make them, so a long clip
never sits in memory whole; the file appears at out_path only once it is complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def write_clip(
    frames: Iterable, *, fps: int, out_path: Path, crf: int = 18, preset: str = "superfast"
) -> int:
    """Encode `frames` (H x W x 3 uint8 arrays or PIL images, all one size, even sides) at fps;
    returns the number of frames written. Written to a temp file, then moved into place.
    The segment renderer re-encodes the clip, so a fast preset at a low crf loses little."""
    import av

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=".tmp.mp4", dir=out_path.parent)
    os.close(fd)
    tmp = Path(name)
    count = 0
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for frame in frames:
                array = np.asarray(frame.convert("RGB") if hasattr(frame, "convert") else frame)
                if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
                    raise ValueError(f"frames must be H x W x 3 uint8, got {array.shape}")
                if stream is None:
                    height, width = array.shape[:2]
                    if width % 2 or height % 2:
                        raise ValueError(f"clip sides must be even, got {width}x{height}")
                    stream = container.add_stream("libx264", rate=fps)
                    stream.width, stream.height = width, height
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf), "preset": preset}
                video_frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                container.mux(stream.encode(video_frame))
                count += 1
            if stream is None:
                raise ValueError("a clip needs at least one frame")
            container.mux(stream.encode(None))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return count
