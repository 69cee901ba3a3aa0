"""Rendering with ffmpeg: segments (Ken Burns stills, transitions, burned-in captions), the final
movie (stream-copied video, narration + ducked music, loudness-normalised AAC), thumbnails, probe.

All pixel and sample work happens inside ffmpeg filter graphs; Python only writes small text
files (caption lines, a concat list) and reads ffmpeg's stderr, so memory does not grow with the
length of the movie. Every output is written to a temporary file next to the target and moved
into place with os.replace, so a failed render never leaves a partial file behind."""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import dagster as dg

from resources.captions import wrap_text
from resources.models import FPS, AssemblyStrategy, CaptionCue
from resources.settings import ffmpeg_exe, font_path

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


def _concat_quote(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def _file_url(path: Path) -> str:
    # "file:" keeps ffmpeg from reading a colon in the name as a protocol prefix.
    return "file:" + str(Path(path).resolve())


# --------------------------------------------------------------------------------------------
# Running ffmpeg.


def _run(args: Sequence[str], *, what: str, timeout_s: float | None = None) -> str:
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


class _AtomicOutput:
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

    def __enter__(self) -> _AtomicOutput:
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


# --------------------------------------------------------------------------------------------
# Probe (imageio-ffmpeg ships no ffprobe, so `ffmpeg -i` output is parsed).

_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM_RE = re.compile(
    r"^\s*Stream #\d+:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?:\s*(Video|Audio):\s*(.*)$"
)
_SIZE_RE = re.compile(r"(?:^|[\s,])(\d{2,5})x(\d{2,5})(?=[\s,\[]|$)")
_FPS_RE = re.compile(r"([\d.]+)(k?)\s+fps")
_TBR_RE = re.compile(r"([\d.]+)(k?)\s+tbr")
_RATE_RE = re.compile(r"(\d+)\s+Hz")
_BITRATE_RE = re.compile(r"bitrate:\s*(\d+)\s*kb/s")


def _rate(match: re.Match[str] | None) -> float | None:
    if not match:
        return None
    value = float(match.group(1)) * (1000 if match.group(2) else 1)
    return round(value, 3)


def _split_top_level(text: str) -> list[str]:
    """Split a stream description on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def probe(path: Path | str, *, count_frames: bool = False) -> dict:
    """Describe a media file from `ffmpeg -i` (imageio-ffmpeg ships no ffprobe).

    Keys: duration_s (also as "duration"; container duration, 10 ms resolution), bitrate_kbps,
    video_codec, width, height, fps, pix_fmt, audio_codec, sample_rate, channels,
    video_streams, audio_streams; None where absent. With count_frames=True also nb_frames,
    counted by stream-copying the first video stream (no decoding, fast).
    Raises FileNotFoundError for a missing file and RenderError if ffmpeg cannot read it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"probe: no such file: {path}")
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", _file_url(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    text = proc.stderr.decode("utf-8", "replace")
    if "Input #0" not in text:
        raise RenderError(f"probe: ffmpeg could not read {path}", text)
    info: dict = {
        "path": str(path),
        "duration_s": None,
        "duration": None,
        "bitrate_kbps": None,
        "video_codec": None,
        "width": None,
        "height": None,
        "fps": None,
        "pix_fmt": None,
        "audio_codec": None,
        "sample_rate": None,
        "channels": None,
        "video_streams": 0,
        "audio_streams": 0,
    }
    if match := _DURATION_RE.search(text):
        h, m, s = match.groups()
        info["duration_s"] = info["duration"] = int(h) * 3600 + int(m) * 60 + float(s)
    if match := _BITRATE_RE.search(text):
        info["bitrate_kbps"] = int(match.group(1))
    for line in text.splitlines():
        match = _STREAM_RE.match(line)
        if not match:
            continue
        kind, desc = match.groups()
        parts = _split_top_level(desc)
        codec = parts[0].split()[0] if parts and parts[0] else None
        if kind == "Video":
            info["video_streams"] += 1
            if info["video_codec"] is not None:
                continue
            info["video_codec"] = codec
            if len(parts) > 1 and parts[1]:
                info["pix_fmt"] = parts[1].split("(")[0].strip()
            if size := _SIZE_RE.search(desc):
                info["width"], info["height"] = int(size.group(1)), int(size.group(2))
            info["fps"] = _rate(_FPS_RE.search(desc)) or _rate(_TBR_RE.search(desc))
        else:
            info["audio_streams"] += 1
            if info["audio_codec"] is not None:
                continue
            info["audio_codec"] = codec
            if rate := _RATE_RE.search(desc):
                info["sample_rate"] = int(rate.group(1))
            layout = parts[2] if len(parts) > 2 else ""
            info["channels"] = {"mono": 1, "stereo": 2}.get(layout) or (
                int(m.group(1)) if (m := re.match(r"(\d+) channels", layout)) else None
            )
    if count_frames and info["video_codec"]:
        info.update(_count_video_frames(path))
    return info


def mp4_duration(path: Path | str) -> float | None:
    """Exact movie duration from an MP4's mvhd box (reads a few header bytes, no ffmpeg run);
    None if the file is not an MP4 with a readable mvhd."""
    try:
        with open(path, "rb") as handle:
            size_total = os.fstat(handle.fileno()).st_size
            return _find_mvhd(handle, 0, size_total, depth=0)
    except (OSError, ValueError, struct.error):
        return None


def _find_mvhd(handle, start: int, end: int, depth: int) -> float | None:
    offset = start
    while offset + 8 <= end:
        handle.seek(offset)
        size, kind = struct.unpack(">I4s", handle.read(8))
        header = 8
        if size == 1:
            size = struct.unpack(">Q", handle.read(8))[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header:
            return None
        if kind == b"moov" and depth == 0:
            return _find_mvhd(handle, offset + header, offset + size, depth=1)
        if kind == b"mvhd" and depth == 1:
            version = handle.read(4)[0]
            if version == 1:
                _, _, timescale, duration = struct.unpack(">QQIQ", handle.read(28))
            else:
                _, _, timescale, duration = struct.unpack(">IIII", handle.read(16))
            return duration / timescale if timescale else None
        offset += size
    return None


def _count_video_frames(path: Path) -> dict:
    proc = subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            _file_url(path),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "null",
            "-progress",
            "pipe:1",
            "-nostats",
            "-",
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    values: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    frames = int(values["frame"]) if values.get("frame", "").isdigit() else None
    return {"nb_frames": frames}


def parse_ebur128_summary(stderr: str, instance: str | None = None) -> dict | None:
    """The ebur128 filter's closing summary as loudnorm's measured_* values (strings, as
    loudnorm's own JSON has them); None without a finite integrated loudness (e.g. silence).
    The true peak (input_tp) is only there when the filter ran with peak=true.
    `instance` picks the summary of a named filter (`ebur128@voice` in the graph)."""
    if instance is not None:
        found = re.search(rf"\[{re.escape(instance)} @ [^\]]*\] Summary:", stderr)
        if not found:
            return None
        stderr = stderr[found.start() :]
        following = re.search(r"\n\[[^\]]+ @ 0x", stderr[1:])
        if following:
            stderr = stderr[: following.start() + 1]
    summary = stderr[stderr.rfind("Summary:") :] if "Summary:" in stderr else ""
    patterns = {
        "input_i": r"I:\s*(-?[\d.]+|-?inf)\s*LUFS",
        "input_thresh": r"Integrated loudness:.*?Threshold:\s*(-?[\d.]+|-?inf)\s*LUFS",
        "input_lra": r"LRA:\s*(-?[\d.]+|-?inf)\s*LU\b",
        "input_tp": r"Peak:\s*(-?[\d.]+|-?inf)\s*dBFS",
    }
    values = {}
    for key, pattern in patterns.items():
        match = re.search(pattern, summary, re.S)
        if match and math.isfinite(float(match.group(1))):
            values[key] = match.group(1)
    if "input_i" not in values:
        return None
    values["target_offset"] = "0"
    return values


# --------------------------------------------------------------------------------------------
# Caption layout.


@lru_cache(maxsize=16)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def layout_caption(
    text: str, *, width: int, height: int, font_file: Path, max_lines: int = 3
) -> tuple[list[str], int]:
    """Wrap `text` to the frame: returns (lines, font size). Shrinks the font (down to 60%)
    when the text would need more than max_lines lines."""
    base = max(12, round(min(width, height) * 0.06))
    max_width = width * 0.86
    size = base
    while True:
        font = _font(str(font_file), size)
        lines = wrap_text(text, font.getlength, max_width)
        if len(lines) <= max_lines or size <= base * 0.6:
            return lines, size
        size = max(12, int(size * 0.9))


# --------------------------------------------------------------------------------------------
# Ken Burns.

# Start/end anchors of the visible window inside the zoomed frame (0 = left/top, 1 = right/bottom)
_PANS = [
    ((0.5, 0.5), (0.5, 0.5)),
    ((0.0, 0.5), (1.0, 0.5)),
    ((1.0, 0.5), (0.0, 0.5)),
    ((0.5, 0.0), (0.5, 1.0)),
    ((0.5, 1.0), (0.5, 0.0)),
    ((0.0, 0.0), (1.0, 1.0)),
    ((1.0, 1.0), (0.0, 0.0)),
    ((1.0, 0.0), (0.0, 1.0)),
]


def ken_burns_motion(seed: int, shot_index: int, zoom: float) -> dict:
    """Deterministic motion for one shot: zoom from z0 to z1 while the window's anchor moves
    from a0 to a1."""
    rng = random.Random(f"ken-burns:{seed}:{shot_index}")
    low, high = 1.02, 1.02 + zoom * rng.uniform(0.8, 1.2)
    zoom_in = rng.random() < 0.5
    a0, a1 = rng.choice(_PANS)
    z0, z1 = (low, high) if zoom_in else (high, low)
    return {"z0": z0, "z1": z1, "a0": a0, "a1": a1, "zoom_in": zoom_in}


def _ken_burns_filters(
    motion: dict, *, width: int, height: int, frames: int, scale_flags: str
) -> str:
    """scale (re-evaluated per frame) + crop: zoom then pan over a still looped in memory."""
    last = max(frames - 1, 1)
    p = f"min(n/{last},1)"
    z = f"({motion['z0']:.5f}+({motion['z1'] - motion['z0']:.5f})*{p})"
    sw, sh = f"round({width}*{z})", f"round({height}*{z})"
    (ax0, ay0), (ax1, ay1) = motion["a0"], motion["a1"]
    ax = f"({ax0}+({ax1 - ax0})*{p})"
    ay = f"({ay0}+({ay1 - ay0})*{p})"
    x = f"max(0,min({sw}-{width},round(({sw}-{width})*{ax})))"
    y = f"max(0,min({sh}-{height},round(({sh}-{height})*{ay})))"
    return (
        f"scale=w='{sw}':h='{sh}':eval=frame:flags={scale_flags},"
        f"crop=w={width}:h={height}:x='{x}':y='{y}':exact=1,setsar=1,format=yuv420p"
    )


def _transition_graph(
    counts: Sequence[int], t_frames: int, transition: str, *, out_label: str
) -> list[str]:
    """Join shots [s0], [s1], ... that overlap by t_frames with xfade.

    xfade has no yuv420p support, so feeding it whole shots would convert every frame to
    yuv444p and back. Only the overlapping frames go through it: each shot is split (by
    reference, no copies) into head / body / tail, the tail of one shot and the head of the
    next are cross-faded, and the pieces are concatenated, all but t_frames per cut in yuv420p.
    """
    shots = len(counts)
    parts, sequence = [], []
    for i, frames in enumerate(counts):
        pieces = []
        if i > 0:
            pieces.append(("head", f"trim=end_frame={t_frames}"))
        body_start = t_frames if i > 0 else 0
        body_end = frames - t_frames if i < shots - 1 else frames
        pieces.append(("body", f"trim=start_frame={body_start}:end_frame={body_end}"))
        if i < shots - 1:
            pieces.append(("tail", f"trim=start_frame={frames - t_frames}"))
        outs = "".join(f"[p{i}{name}]" for name, _ in pieces)
        parts.append(f"[s{i}]split={len(pieces)}{outs}" if len(pieces) > 1 else f"[s{i}]null{outs}")
        for name, trim in pieces:
            parts.append(f"[p{i}{name}]{trim},setpts=PTS-STARTPTS[q{i}{name}]")
        if i > 0:
            parts.append(
                f"[q{i - 1}tail]format=yuv444p[a{i}];[q{i}head]format=yuv444p[b{i}];"
                f"[a{i}][b{i}]xfade=transition={transition}:duration={t_frames / FPS:.6f}"
                f":offset=0,format=yuv420p[t{i}]"
            )
            sequence.append(f"[t{i}]")
        sequence.append(f"[q{i}body]")
    parts.append("".join(sequence) + f"concat=n={len(sequence)}:v=1:a=0[{out_label}]")
    return parts


def shot_frame_counts(total_frames: int, shots: int, transition_frames: int) -> list[int]:
    """Frames per shot so that shots overlapping by transition_frames fill total_frames."""
    span = total_frames + (shots - 1) * transition_frames
    base, extra = divmod(span, shots)
    return [base + (1 if i < extra else 0) for i in range(shots)]


# --------------------------------------------------------------------------------------------


class FfmpegRenderer(dg.ConfigurableResource):
    """Renders segments and the final movie with the ffmpeg binary from imageio-ffmpeg.

    Segments: H.264 (libx264, yuv420p, FPS), video only, exactly round(duration_s * FPS)
    frames. Final: segments joined by the concat demuxer without re-encoding, plus AAC audio
    (narration over ducked music, loudness-normalised in two passes)."""

    # How many renders may run at once across workers (for resources.limits.provider_slot);
    # each one already uses every core, and a 1080x1920 segment render peaks near 350 MB.
    max_concurrency: int = 2
    preset: str = "veryfast"
    crf: int = 21
    # Extra libx264 options (x264-params syntax) on top of the preset. The default swaps the
    # preset's subpixel refinement and hexagon search for the cheapest ones: ~30% less CPU per
    # segment (2 cores, 1080x1920: ~2.2x instead of ~1.2-1.4x real time) for ~6% larger files
    # at the same crf and an SSIM drop of ~0.001. "" gives the plain preset.
    x264_params: str = "subme=1:me=dia"
    # Longest distance between keyframes; short GOPs cost CPU and bits on every segment.
    keyint_s: int = 5
    threads: int = 0  # 0 = let ffmpeg / x264 decide (all cores)
    audio_bitrate: str = "192k"
    audio_sample_rate: int = 48000
    loudness_lufs: float = -16.0  # integrated loudness target of the final mix
    true_peak_db: float = -1.5
    loudness_range_lu: float = 11.0
    # Music loudness relative to the narration's (both measured, so producer levels do not
    # matter); ducking takes it further down while the narration speaks.
    music_level_db: float = -15.0
    # Ducking: sidechaincompress on the music keyed by the narration (threshold is linear).
    duck_threshold: float = 0.02
    duck_ratio: float = 10.0
    duck_attack_ms: float = 40.0
    duck_release_ms: float = 500.0
    duck_lookahead_ms: float = 400.0  # the music starts going down this long before speech
    crossfade_s: float = 0.5  # transition between shots (crossfade / fade_through_black)
    edge_fade_s: float = 0.3  # fade from / to black at segment edges (fade_through_black)
    ken_burns_zoom: float = 0.12  # zoom travel per shot (x0.8 to x1.2, chosen per shot)
    scale_flags: str = "bicubic"  # swscale flags of the per-frame Ken Burns scale
    timeout_s: float = 1800.0  # per ffmpeg run

    # -- helpers -----------------------------------------------------------------------------

    def _thread_args(self) -> list[str]:
        if self.threads > 0:
            return ["-threads", str(self.threads), "-filter_complex_threads", str(self.threads)]
        return ["-threads", "0"]

    def video_codec_args(self) -> list[str]:
        return [
            "-c:v",
            "libx264",
            "-preset",
            self.preset,
            "-crf",
            str(self.crf),
            "-pix_fmt",
            "yuv420p",
            "-profile:v",
            "high",
            "-g",
            str(self.keyint_s * FPS),
            "-video_track_timescale",
            str(FPS * 512),
            *(["-x264-params", self.x264_params] if self.x264_params else []),
        ]

    # -- segments ----------------------------------------------------------------------------

    def render_segment(
        self,
        images: list[Path],
        *,
        width: int,
        height: int,
        duration_s: float,
        cues: list[CaptionCue],
        strategy: AssemblyStrategy,
        seed: int,
        out_path: Path,
    ) -> None:
        """Video-only H.264 MP4 of exactly round(duration_s * FPS) frames at FPS."""
        if not images:
            raise ValueError("render_segment needs at least one image")
        if width % 2 or height % 2 or width < 16 or height < 16:
            raise ValueError(f"width and height must be even and >= 16, got {width}x{height}")
        strategy = AssemblyStrategy(strategy)
        total = round(duration_s * FPS)
        shots = len(images)
        if total < shots:
            raise ValueError(f"{duration_s} s is too short for {shots} shots")
        t_frames = 0
        if strategy is not AssemblyStrategy.cut and shots > 1:
            t_frames = min(round(self.crossfade_s * FPS), total // (2 * shots))
        counts = shot_frame_counts(total, shots, t_frames)

        with _AtomicOutput(out_path) as out:
            # The font under a plain name next to the caption files keeps the graph simple.
            font = out.work / "font.ttf"
            try:
                os.symlink(font_path(), font)
            except OSError:
                shutil.copyfile(font_path(), font)
            inputs: list[str] = []
            parts: list[str] = []
            for i, (image, frames) in enumerate(zip(images, counts, strict=True)):
                inputs += [
                    "-f",
                    "image2",
                    "-pattern_type",
                    "none",
                    "-framerate",
                    str(FPS),
                    "-i",
                    _file_url(image),
                ]
                motion = ken_burns_motion(seed, i, self.ken_burns_zoom)
                kb = _ken_burns_filters(
                    motion, width=width, height=height, frames=frames, scale_flags=self.scale_flags
                )
                parts.append(
                    f"[{i}:v]scale={width}:{height}:force_original_aspect_ratio=increase"
                    f":flags=bicubic,crop={width}:{height},format=yuv420p,setsar=1,"
                    f"loop=loop={frames - 1}:size=1,settb=1/{FPS},setpts=N,{kb}[s{i}]"
                )
            label = "s0"
            if shots > 1 and (strategy is AssemblyStrategy.cut or t_frames == 0):
                parts.append(
                    "".join(f"[s{i}]" for i in range(shots)) + f"concat=n={shots}:v=1:a=0[joined]"
                )
                label = "joined"
            elif shots > 1:
                transition = (
                    "fadeblack" if strategy is AssemblyStrategy.fade_through_black else "fade"
                )
                parts += _transition_graph(counts, t_frames, transition, out_label="joined")
                label = "joined"
            # Renumber frames so the timeline is exactly n / FPS whatever the joins did (a
            # one-frame shot has no duration of its own for concat to advance by).
            chain = [f"settb=1/{FPS}", "setpts=N"]
            chain += self._caption_filters(
                cues, width=width, height=height, duration_s=total / FPS, font=font, work=out.work
            )
            if strategy is AssemblyStrategy.fade_through_black:
                edge = min(self.edge_fade_s, total / FPS / 4)
                chain.append(f"fade=t=in:st=0:d={edge:.3f}")
                # the last frame starts at (total - 1) / FPS: it is the first fully black one
                out_fade = max(edge - 1 / FPS, 0.001)
                chain.append(f"fade=t=out:st={total / FPS - edge:.6f}:d={out_fade:.6f}")
            chain.append("format=yuv420p")
            parts.append(f"[{label}]" + ",".join(chain) + "[vout]")
            graph = ";\n".join(parts)
            _run(
                [
                    *inputs,
                    "-loglevel",
                    "error",
                    "-filter_complex",
                    graph,
                    "-map",
                    "[vout]",
                    "-an",
                    *self.video_codec_args(),
                    *self._thread_args(),
                    "-frames:v",
                    str(total),
                    "-r",
                    str(FPS),
                    "-fps_mode",
                    "cfr",
                    "-movflags",
                    "+faststart",
                    "-f",
                    "mp4",
                    _file_url(out.tmp),
                ],
                what=f"render_segment {out_path}",
                timeout_s=self.timeout_s,
            )

    def _caption_filters(
        self,
        cues: Sequence[CaptionCue],
        *,
        width: int,
        height: int,
        duration_s: float,
        font: Path,
        work: Path,
    ) -> list[str]:
        filters = []
        bottom_margin = 0.2 if height > width else 0.08
        for i, cue in enumerate(cues):
            start, end = max(0.0, cue.start_s), min(duration_s, cue.end_s)
            if end <= start or not cue.text.strip():
                continue
            lines, size = layout_caption(cue.text, width=width, height=height, font_file=font)
            if not lines:
                continue
            text_file = work / f"cue{i:03d}.txt"
            text_file.write_text("\n".join(lines), encoding="utf-8")
            border = max(2, round(size / 14))
            pad = max(4, round(size * 0.3))
            filters.append(
                "drawtext="
                f"fontfile={escape_option_value(str(font))}"
                f":textfile={escape_option_value(str(text_file))}"
                f":expansion=none:text_shaping=1:fontsize={size}:fontcolor=white"
                f":borderw={border}:bordercolor=black@0.85"
                f":box=1:boxcolor=black@0.45:boxborderw={pad}"
                f":line_spacing={round(size * 0.18)}:text_align=C"
                f":x=(w-text_w)/2:y=h*{1 - bottom_margin:.3f}-text_h"
                f":enable='gte(t,{start:.4f})*lt(t,{end:.4f})'"
            )
        return filters

    # -- final -------------------------------------------------------------------------------

    def render_final(
        self,
        segment_videos: list[Path],
        narration: list[tuple[Path, float]],
        music: Path | None,
        *,
        out_path: Path,
    ) -> None:
        """Concatenate segments (video stream-copied) and lay narration + ducked music under
        them; AAC, loudness-normalised, duration = sum of the segments."""
        total = self.segments_duration(segment_videos)
        with _AtomicOutput(out_path) as out:
            soundtrack = out.work / "soundtrack.m4a"
            self.mix_soundtrack(narration, music, duration_s=total, out_path=soundtrack)
            self._join(segment_videos, soundtrack, total, out.tmp)

    def segments_duration(self, segment_videos: Sequence[Path]) -> float:
        if not segment_videos:
            raise ValueError("render_final needs at least one segment video")
        total = 0.0
        for video in segment_videos:
            duration = mp4_duration(video)
            if duration is None:  # not an MP4 we can read directly: ask ffmpeg
                info = probe(video)
                if info["video_codec"] is None or not info["duration_s"]:
                    raise RenderError(f"render_final: {video} has no video stream")
                duration = info["duration_s"]
            total += round(duration * FPS) / FPS
        return total

    def mix_soundtrack(
        self,
        narration: Sequence[tuple[Path, float]],
        music: Path | None,
        *,
        duration_s: float,
        out_path: Path,
    ) -> None:
        """The movie's audio alone (AAC in MP4): narration at its offsets over ducked music,
        loudness-normalised. Kept apart from the picture so a visual edit reuses it."""
        total = duration_s
        with _AtomicOutput(out_path) as out:
            levels = self._measure_sources(narration, music, total)
            measured = self._measure_mix(narration, music, total, levels)
            audio_inputs, audio_graph = self._audio_graph(
                narration, music, total, levels, input_base=0
            )
            graph = (
                audio_graph
                + ";\n"
                + f"[mix]{self._loudnorm(measured)},"
                + (
                    f"aresample={self.audio_sample_rate},"
                    f"aformat=sample_fmts=fltp:channel_layouts=stereo,"
                    f"apad=whole_dur={total:.6f},atrim=end={total:.6f}[aout]"
                )
            )
            _run(
                [
                    "-loglevel", "error", *audio_inputs,
                    "-filter_complex", graph, "-map", "[aout]",
                    "-c:a", "aac", "-b:a", self.audio_bitrate,
                    "-ar", str(self.audio_sample_rate), "-ac", "2",
                    *self._thread_args(), "-t", f"{total:.6f}", "-f", "mp4",
                    _file_url(out.tmp),
                ],
                what=f"mix_soundtrack {out_path}",
                timeout_s=self.timeout_s,
            )

    def join(self, segment_videos: list[Path], soundtrack: Path, *, out_path: Path) -> None:
        """The movie from finished parts: segments and soundtrack are both stream-copied."""
        total = self.segments_duration(segment_videos)
        with _AtomicOutput(out_path) as out:
            self._join(segment_videos, soundtrack, total, out.tmp)

    def _join(self, segment_videos: Sequence[Path], soundtrack: Path, total: float,
              target: Path) -> None:
        listing = target.with_suffix(".segments.txt")
        listing.write_text(
            "ffconcat version 1.0\n"
            + "".join(f"file {_concat_quote(Path(v).resolve())}\n" for v in segment_videos),
            encoding="utf-8",
        )
        try:
            _run(
                [
                    "-loglevel", "error",
                    "-f", "concat", "-safe", "0", "-i", _file_url(listing),
                    "-i", _file_url(Path(soundtrack)),
                    "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
                    "-t", f"{total:.6f}", "-movflags", "+faststart", "-f", "mp4",
                    _file_url(target),
                ],
                what=f"join {target}",
                timeout_s=self.timeout_s,
            )
        finally:
            listing.unlink(missing_ok=True)

    def _sources(
        self,
        narration: Sequence[tuple[Path, float]],
        music: Path | None,
        total: float,
        *,
        input_base: int,
    ) -> tuple[list[str], list[str], bool, bool]:
        """Inputs and graph parts producing [voice] (narration clips at their offsets, or
        silence) and, with music, [music] (looped and trimmed to `total`); plus whether each
        source exists."""
        rate = self.audio_sample_rate
        fmt = f"aresample={rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
        inputs: list[str] = []
        parts: list[str] = []
        index = input_base
        voice_labels = []
        for k, (clip, offset) in enumerate(narration):
            if offset >= total:
                continue
            inputs += ["-i", _file_url(Path(clip))]
            delay_ms = max(0, round(offset * 1000))
            parts.append(f"[{index}:a]{fmt},adelay=delays={delay_ms}:all=1[n{k}]")
            voice_labels.append(f"[n{k}]")
            index += 1
        if voice_labels:
            parts.append(
                "".join(voice_labels)
                + f"amix=inputs={len(voice_labels)}:normalize=0:duration=longest,"
                + f"apad=whole_dur={total:.6f},atrim=end={total:.6f}[voice]"
            )
        else:
            parts.append(f"anullsrc=r={rate}:cl=stereo,atrim=end={total:.6f}[voice]")
        if music is not None:
            inputs += ["-stream_loop", "-1", "-i", _file_url(Path(music))]
            parts.append(f"[{index}:a]{fmt},atrim=end={total:.6f},asetpts=N/SR/TB[music]")
        return inputs, parts, bool(voice_labels), music is not None

    def _audio_graph(
        self,
        narration: Sequence[tuple[Path, float]],
        music: Path | None,
        total: float,
        levels: dict[str, float],
        *,
        input_base: int,
    ) -> tuple[list[str], str]:
        """Inputs and graph producing [mix]: narration (brought to the loudness target) at its
        offsets over music set `music_level_db` below it and ducked while it speaks."""
        inputs, parts, _, has_music = self._sources(narration, music, total, input_base=input_base)
        voice_gain = levels.get("voice_gain_db", 0.0)
        if not has_music:
            parts.append(f"[voice]volume={voice_gain:.2f}dB[mix]")
            return inputs, ";\n".join(parts)
        # Look-ahead ducking: the music and the voice that is heard are delayed against the
        # voice that keys the compressor, so the music is already down when a sentence starts.
        ahead = max(0.0, self.duck_lookahead_ms) / 1000
        parts.append(
            f"[voice]volume={voice_gain:.2f}dB,asplit=2[voice_mix][voice_key];"
            f"[voice_key]apad=whole_dur={total + ahead:.6f}[voice_sc];"
            f"[voice_mix]adelay=delays={ahead * 1000:.0f}:all=1[voice_late]"
        )
        parts.append(
            f"[music]volume={levels.get('music_gain_db', 0.0):.2f}dB,"
            f"adelay=delays={ahead * 1000:.0f}:all=1[music_level]"
        )
        parts.append(
            f"[music_level][voice_sc]sidechaincompress=threshold={self.duck_threshold}"
            f":ratio={self.duck_ratio}:attack={self.duck_attack_ms}"
            f":release={self.duck_release_ms}:detection=rms:link=maximum[ducked]"
        )
        parts.append(
            "[voice_late][ducked]amix=inputs=2:normalize=0:duration=first,"
            f"atrim=start={ahead:.6f},asetpts=PTS-STARTPTS[mix]"
        )
        return inputs, ";\n".join(parts)

    def _measure_sources(
        self, narration: Sequence[tuple[Path, float]], music: Path | None, total: float
    ) -> dict[str, float]:
        """Pass 1: loudness of the narration track and of the music track (ebur128, one run);
        returns the gains that put the narration at the target and the music
        `music_level_db` below the narration, whatever levels the producers delivered."""
        inputs, parts, has_voice, has_music = self._sources(narration, music, total, input_base=0)
        outputs: list[str] = []
        if has_voice:
            parts.append("[voice]ebur128@voice=framelog=quiet[voice_measured]")
            outputs += ["-map", "[voice_measured]", "-f", "null", "-"]
        else:
            parts.append("[voice]anullsink")
        if has_music:
            parts.append("[music]ebur128@music=framelog=quiet[music_measured]")
            outputs += ["-map", "[music_measured]", "-f", "null", "-"]
        if not outputs:
            return {}
        err = _run(
            [
                "-loglevel",
                "info",
                "-nostats",
                *inputs,
                "-filter_complex",
                ";\n".join(parts),
                *outputs,
            ],
            what="loudness measurement (sources)",
            timeout_s=self.timeout_s,
        )
        voice = parse_ebur128_summary(err, instance="ebur128@voice") if has_voice else None
        music_level = parse_ebur128_summary(err, instance="ebur128@music") if has_music else None
        levels: dict[str, float] = {}
        voice_i = float(voice["input_i"]) if voice else None
        if voice_i is not None and voice_i > -70:
            levels["voice_gain_db"] = self.loudness_lufs - voice_i
        if music_level and float(music_level["input_i"]) > -70:
            reference = self.loudness_lufs if "voice_gain_db" in levels else None
            if reference is not None:
                levels["music_gain_db"] = (
                    reference + self.music_level_db - float(music_level["input_i"])
                )
            else:  # no narration: the music is the programme
                levels["music_gain_db"] = self.loudness_lufs - float(music_level["input_i"])
        return levels

    def _measure_mix(
        self,
        narration: Sequence[tuple[Path, float]],
        music: Path | None,
        total: float,
        levels: dict[str, float],
    ) -> dict | None:
        """Pass 2: the final mix measured with ebur128 (integrated loudness, its gate threshold,
        loudness range, true peak) in loudnorm's key names; None if there is nothing to measure.

        ebur128 runs at the mix's own rate, about 5x cheaper than loudnorm's analysis pass,
        which upsamples to 192 kHz; the final pass then applies loudnorm in linear mode."""
        inputs, graph = self._audio_graph(narration, music, total, levels, input_base=0)
        if not inputs:  # pure silence
            return None
        graph += ";\n[mix]ebur128=peak=true:framelog=quiet[aout]"
        err = _run(
            [
                "-loglevel",
                "info",
                "-nostats",
                *inputs,
                "-filter_complex",
                graph,
                "-map",
                "[aout]",
                "-f",
                "null",
                "-",
            ],
            what="loudness measurement (mix)",
            timeout_s=self.timeout_s,
        )
        return parse_ebur128_summary(err)

    def _loudnorm(self, measured: dict | None) -> str:
        base = (
            f"loudnorm=I={self.loudness_lufs}:TP={self.true_peak_db}:LRA={self.loudness_range_lu}"
        )
        if not measured:
            return base
        try:
            values = {
                k: float(measured[k])
                for k in ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")
            }
        except (KeyError, TypeError, ValueError):
            return base
        if not all(math.isfinite(v) for v in values.values()) or values["input_i"] < -70:
            return base  # silence or unmeasurable: single pass
        return (
            f"{base}:measured_I={values['input_i']}:measured_TP={values['input_tp']}"
            f":measured_LRA={values['input_lra']}:measured_thresh={values['input_thresh']}"
            f":offset={values['target_offset']}:linear=true"
        )

    # -- thumbnails / probe ------------------------------------------------------------------

    def thumbnail(self, video: Path, *, at_s: float, out_path: Path) -> None:
        """One frame at at_s (clamped into the video) as JPEG (.jpg/.jpeg) or PNG (otherwise)."""
        duration = mp4_duration(video)
        if duration is None:
            duration = probe(video)["duration_s"] or 0.0
        at = min(max(0.0, at_s), max(0.0, duration - 1.5 / FPS))
        jpeg = Path(out_path).suffix.lower() in (".jpg", ".jpeg")
        codec = ["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p"] if jpeg else ["-c:v", "png"]
        with _AtomicOutput(out_path) as out:
            _run(
                [
                    "-loglevel",
                    "error",
                    "-ss",
                    f"{at:.3f}",
                    "-i",
                    _file_url(video),
                    "-frames:v",
                    "1",
                    "-update",
                    "1",
                    *codec,
                    "-f",
                    "image2",
                    _file_url(out.tmp),
                ],
                what=f"thumbnail {out_path}",
                timeout_s=self.timeout_s,
            )

    def probe(self, path: Path) -> dict:
        return probe(path)
