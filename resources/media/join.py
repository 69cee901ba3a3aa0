"""The movie file from finished parts: segment videos and the soundtrack, both stream-copied
(concat demuxer), and thumbnails taken from it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from resources.domain.models import FPS
from resources.media.ffmpeg import (
    AtomicOutput,
    EncoderSettings,
    RenderError,
    concat_copy,
    file_url,
    run_ffmpeg,
)
from resources.media.probe import probe


class Joiner:
    """Joins segments and soundtrack, and takes thumbnails, with the renderer's settings."""

    def __init__(self, cfg: EncoderSettings) -> None:
        self.cfg = cfg

    def segments_duration(self, segment_videos: Sequence[Path]) -> float:
        if not segment_videos:
            raise ValueError("render_final needs at least one segment video")
        total = 0.0
        for video in segment_videos:
            info = probe(video)
            if info["video_codec"] is None or not info["duration_s"]:
                raise RenderError(f"render_final: {video} has no video stream")
            total += round(info["duration_s"] * FPS) / FPS
        return total

    def join(self, segment_videos: list[Path], soundtrack: Path, *, out_path: Path) -> None:
        """The movie from finished parts: segments and soundtrack are both stream-copied."""
        total = self.segments_duration(segment_videos)
        with AtomicOutput(out_path) as out:
            self.join_into(segment_videos, soundtrack, total, out.tmp)

    def join_into(
        self, segment_videos: Sequence[Path], soundtrack: Path, total: float, target: Path
    ) -> None:
        concat_copy(
            segment_videos,
            target,
            audio=soundtrack,
            options=["-t", f"{total:.6f}"],
            what=f"join {target}",
            timeout_s=self.cfg.timeout_s,
        )

    def thumbnail(self, video: Path, *, at_s: float, out_path: Path) -> None:
        """One frame at at_s (clamped into the video) as JPEG (.jpg/.jpeg) or PNG (otherwise)."""
        duration = probe(video)["duration_s"] or 0.0
        at = min(max(0.0, at_s), max(0.0, duration - 1.5 / FPS))
        jpeg = Path(out_path).suffix.lower() in (".jpg", ".jpeg")
        codec = ["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p"] if jpeg else ["-c:v", "png"]
        with AtomicOutput(out_path) as out:
            run_ffmpeg(
                [
                    "-loglevel",
                    "error",
                    "-ss",
                    f"{at:.3f}",
                    "-i",
                    file_url(video),
                    "-frames:v",
                    "1",
                    "-update",
                    "1",
                    *codec,
                    "-f",
                    "image2",
                    file_url(out.tmp),
                ],
                what=f"thumbnail {out_path}",
                timeout_s=self.cfg.timeout_s,
            )
