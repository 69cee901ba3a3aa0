"""The segment renderer as it was before issue 21 (resources/media/picture.py at 67f2782), kept
unchanged so bench/render_bench.py can compare today's output with it (SSIM) on the same movie:
one ffmpeg filter graph and one encode per segment. Not used by the product."""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from resources.domain.models import FPS, AssemblyStrategy, CaptionCue
from resources.media.captions import wrap_text
from resources.media.ffmpeg import (
    AtomicOutput,
    EncoderSettings,
    escape_option_value,
    file_url,
    run_ffmpeg,
    thread_args,
    video_codec_args,
)
from resources.media.fonts import fallback_chain, font_for


class PictureSettings(EncoderSettings):
    crossfade_s: float
    edge_fade_s: float
    ken_burns_zoom: float
    scale_flags: str


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


def _check_size(width: int, height: int) -> None:
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"width and height must be even and >= 16, got {width}x{height}")


def _cover(width: int, height: int) -> str:
    """Scale to cover width x height and centre-crop: no bars, no distortion."""
    return (
        f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=bicubic,"
        f"crop={width}:{height},format=yuv420p,setsar=1"
    )


class SegmentPicture:
    """Renders one segment's video (no audio) with the renderer's settings."""

    def __init__(self, cfg: PictureSettings) -> None:
        self.cfg = cfg

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
        """Ken Burns over the stills: video-only H.264 MP4 of exactly round(duration_s * FPS)
        frames at FPS."""
        if not images:
            raise ValueError("render_segment needs at least one image")
        _check_size(width, height)
        strategy = AssemblyStrategy(strategy)
        total = round(duration_s * FPS)
        shots = len(images)
        if total < shots:
            raise ValueError(f"{duration_s} s is too short for {shots} shots")
        t_frames = 0
        if strategy is not AssemblyStrategy.cut and shots > 1:
            t_frames = min(round(self.cfg.crossfade_s * FPS), total // (2 * shots))
        counts = shot_frame_counts(total, shots, t_frames)

        inputs: list[str] = []
        parts: list[str] = []
        for i, (image, frames) in enumerate(zip(images, counts, strict=True)):
            inputs += ["-f", "image2", "-pattern_type", "none", "-framerate", str(FPS)]
            inputs += ["-i", file_url(image)]
            motion = ken_burns_motion(seed, i, self.cfg.ken_burns_zoom)
            kb = _ken_burns_filters(
                motion,
                width=width,
                height=height,
                frames=frames,
                scale_flags=self.cfg.scale_flags,
            )
            parts.append(
                f"[{i}:v]{_cover(width, height)},"
                f"loop=loop={frames - 1}:size=1,settb=1/{FPS},setpts=N,{kb}[s{i}]"
            )
        label = "s0"
        if shots > 1 and (strategy is AssemblyStrategy.cut or t_frames == 0):
            parts.append(
                "".join(f"[s{i}]" for i in range(shots)) + f"concat=n={shots}:v=1:a=0[joined]"
            )
            label = "joined"
        elif shots > 1:
            transition = "fadeblack" if strategy is AssemblyStrategy.fade_through_black else "fade"
            parts += _transition_graph(counts, t_frames, transition, out_label="joined")
            label = "joined"
        self._finish(
            inputs,
            parts,
            label,
            width=width,
            height=height,
            total=total,
            cues=cues,
            strategy=strategy,
            out_path=out_path,
        )

    def render_clip(
        self,
        clip: Path,
        *,
        width: int,
        height: int,
        duration_s: float,
        cues: list[CaptionCue],
        strategy: AssemblyStrategy,
        out_path: Path,
    ) -> None:
        """A generated clip fitted to the segment: cover-cropped to width x height, slowed to
        duration_s when shorter (frames repeat; no invented in-betweens) or trimmed when
        longer, captions and edge fades as for stills. Exactly round(duration_s * FPS) frames."""
        from resources.media.probe import probe

        _check_size(width, height)
        info = probe(clip)
        clip_s = info["duration_s"] or 0.0
        if info["video_codec"] is None or clip_s <= 0:
            raise ValueError(f"render_clip: {clip} has no video to show")
        total = round(duration_s * FPS)
        slow = max(1.0, duration_s / clip_s)
        parts = [
            f"[0:v]setpts=(PTS-STARTPTS)*{slow:.6f},fps={FPS},{_cover(width, height)},"
            # a clip that ends a frame early holds its last frame rather than going black
            f"tpad=stop_mode=clone:stop_duration={duration_s:.3f},trim=end_frame={total}[clip]"
        ]
        self._finish(
            ["-i", file_url(clip)],
            parts,
            "clip",
            width=width,
            height=height,
            total=total,
            cues=cues,
            strategy=AssemblyStrategy(strategy),
            out_path=out_path,
        )

    def _finish(
        self,
        inputs: list[str],
        parts: list[str],
        label: str,
        *,
        width: int,
        height: int,
        total: int,
        cues: Sequence[CaptionCue],
        strategy: AssemblyStrategy,
        out_path: Path,
    ) -> None:
        """Captions and edge fades over [label], encoded to exactly `total` frames."""
        with AtomicOutput(out_path) as out:
            # The fonts under plain names next to the caption files keep the graph simple.
            fonts: dict[Path, Path] = {}
            for number, source in enumerate(fallback_chain()):
                fonts[source] = out.work / f"font{number}{source.suffix}"
                try:
                    os.symlink(source, fonts[source])
                except OSError:
                    shutil.copyfile(source, fonts[source])
            # Renumber frames so the timeline is exactly n / FPS whatever the joins did (a
            # one-frame shot has no duration of its own for concat to advance by).
            chain = [f"settb=1/{FPS}", "setpts=N"]
            chain += self._caption_filters(
                cues, width=width, height=height, duration_s=total / FPS, fonts=fonts, work=out.work
            )
            if strategy is AssemblyStrategy.fade_through_black:
                edge = min(self.cfg.edge_fade_s, total / FPS / 4)
                chain.append(f"fade=t=in:st=0:d={edge:.3f}")
                # the last frame starts at (total - 1) / FPS: it is the first fully black one
                out_fade = max(edge - 1 / FPS, 0.001)
                chain.append(f"fade=t=out:st={total / FPS - edge:.6f}:d={out_fade:.6f}")
            chain.append("format=yuv420p")
            graph = ";\n".join([*parts, f"[{label}]" + ",".join(chain) + "[vout]"])
            run_ffmpeg(
                [
                    *inputs,
                    "-loglevel",
                    "error",
                    "-filter_complex",
                    graph,
                    "-map",
                    "[vout]",
                    "-an",
                    *video_codec_args(self.cfg),
                    *thread_args(self.cfg),
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
                    file_url(out.tmp),
                ],
                what=f"render_segment {out_path}",
                timeout_s=self.cfg.timeout_s,
            )

    def _caption_filters(
        self,
        cues: Sequence[CaptionCue],
        *,
        width: int,
        height: int,
        duration_s: float,
        fonts: dict[Path, Path],
        work: Path,
    ) -> list[str]:
        filters = []
        bottom_margin = 0.2 if height > width else 0.08
        for i, cue in enumerate(cues):
            start, end = max(0.0, cue.start_s), min(duration_s, cue.end_s)
            if end <= start or not cue.text.strip():
                continue
            font = fonts[font_for(cue.text)]  # a CJK caption falls back to Noto Sans CJK
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
