"""Running ffmpeg (the binary from imageio-ffmpeg): arguments, escaping, atomic outputs, joins by
stream copy, and the encoder settings every video output shares.

Every output is written to a temporary file next to the target and moved into place with
os.replace, so a failed render never leaves a partial file behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from resources.domain.models import FPS
from resources.runtime.settings import ffmpeg_exe

STDERR_TAIL_CHARS = 3000


class RenderError(RuntimeError):
    """An ffmpeg run failed; the message ends with the tail of ffmpeg's stderr."""

    def __init__(self, message: str, stderr: str = "") -> None:
        self.stderr = stderr
        tail = stderr.strip()[-STDERR_TAIL_CHARS:]
        super().__init__(f"{message}\nffmpeg stderr (tail):\n{tail}" if tail else message)


# --------------------------------------------------------------------------------------------
# Filter-graph escaping. A graph has two quoting levels: the graph parser (which splits on
# [ ] , ;) and the filter option parser (which splits on : and =). A value is escaped for the
# option level first, then the result for the graph level.


def escape_option_value(value: str) -> str:
    """Escape a literal option value (e.g. a file path) for use inside a filter graph."""
    level2 = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", level2)


def concat_quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def file_url(path: Path) -> str:
    # "file:" keeps ffmpeg from reading a colon in the name as a protocol prefix.
    return "file:" + str(Path(path).resolve())


# --------------------------------------------------------------------------------------------
# Running ffmpeg.


def run_ffmpeg(args: Sequence[str], *, what: str, timeout_s: float | None = None) -> str:
    """Run ffmpeg with `args`; return stderr. Raises RenderError with stderr's tail on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", *args]
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = (exc.stderr or b"").decode("utf-8", "replace")
        raise RenderError(f"{what}: ffmpeg timed out after {timeout_s} s", err) from exc
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RenderError(f"{what}: ffmpeg exited with status {proc.returncode}", err)
    return err


def run_graph(
    inputs: Sequence[str],
    graph: str,
    outputs: Sequence[str],
    *,
    what: str,
    timeout_s: float | None,
    loglevel: str = "error",
    options: Sequence[str] = (),
) -> str:
    """Run ffmpeg with one filter graph: `inputs` (each -i with its own options), the global
    `options`, the graph, then `outputs` (each output's options and its target). Returns stderr.
    (ffmpeg applies global options such as -loglevel wherever they stand.)"""
    return run_ffmpeg(
        [*inputs, "-loglevel", loglevel, *options, "-filter_complex", graph, *outputs],
        what=what,
        timeout_s=timeout_s,
    )


def concat_copy(
    videos: Sequence[Path],
    target: Path,
    *,
    what: str,
    timeout_s: float | None,
    audio: Path | None = None,
    options: Sequence[str] = (),
) -> None:
    """Join `videos` (same encoder settings) into the MP4 `target` by stream copy with the
    concat demuxer; with `audio`, its first audio stream is copied in beside them. `options`
    are more output options (e.g. "-t"), given after "-c copy"."""
    listing = target.with_suffix(".concat.txt")
    listing.write_text(
        "ffconcat version 1.0\n"
        + "".join(f"file {concat_quote(Path(v).resolve())}\n" for v in videos),
        encoding="utf-8",
    )
    args = ["-loglevel", "error", "-f", "concat", "-safe", "0", "-i", file_url(listing)]
    if audio is not None:
        args += ["-i", file_url(Path(audio))]
    args += ["-map", "0:v:0"]
    if audio is not None:
        args += ["-map", "1:a:0"]
    args += ["-c", "copy", *options, "-movflags", "+faststart", "-f", "mp4", file_url(target)]
    try:
        run_ffmpeg(args, what=what, timeout_s=timeout_s)
    finally:
        listing.unlink(missing_ok=True)


class AtomicOutput:
    """A temp path in the target's directory; moved onto the target on success, else removed."""

    def __init__(self, out_path: Path) -> None:
        self.out_path = Path(out_path)
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{self.out_path.stem}.",
            suffix=f".tmp{self.out_path.suffix}",
            dir=self.out_path.parent,
        )
        os.close(fd)
        self.tmp = Path(name)
        try:
            self.work = Path(tempfile.mkdtemp(prefix=".render-", dir=self.out_path.parent))
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise

    def __enter__(self) -> AtomicOutput:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        if exc_type is None:
            if not self.tmp.exists() or self.tmp.stat().st_size == 0:
                self.tmp.unlink(missing_ok=True)
                raise RenderError(f"ffmpeg wrote nothing for {self.out_path}")
            try:
                os.replace(self.tmp, self.out_path)
            except BaseException:
                self.tmp.unlink(missing_ok=True)
                raise
        else:
            self.tmp.unlink(missing_ok=True)


class EncoderSettings(Protocol):
    preset: str
    crf: int
    x264_params: str
    keyint_s: int
    threads: int
    timeout_s: float


def thread_args(cfg: EncoderSettings) -> list[str]:
    if cfg.threads > 0:
        return ["-threads", str(cfg.threads), "-filter_complex_threads", str(cfg.threads)]
    return ["-threads", "0"]


def video_codec_args(cfg: EncoderSettings) -> list[str]:
    """H.264 High, yuv420p, a keyframe at least every keyint_s, and one timescale for all
    segments so the concat demuxer can join them without re-encoding."""
    return [
        "-c:v",
        "libx264",
        "-preset",
        cfg.preset,
        "-crf",
        str(cfg.crf),
        "-pix_fmt",
        "yuv420p",
        "-profile:v",
        "high",
        "-g",
        str(cfg.keyint_s * FPS),
        "-video_track_timescale",
        str(FPS * 512),
        *(["-x264-params", cfg.x264_params] if cfg.x264_params else []),
    ]
