"""A segment's picture: Ken Burns over its stills, or its generated clip fitted to the segment,
with transitions, edge fades and captions burned in.

A stills segment is encoded as chunks, each a closed GOP of its own: one per shot body and one
per transition between two shots, so a chunk shows exactly one or two stills. The chunks are
joined by stream copy (concat demuxer), and with a chunk cache (a content key per chunk: its
filter graph, the hashes of its stills and the encoder settings) an edit to one shot re-encodes
only the chunks that shot appears in. The chunks a render needs come out of one ffmpeg run: each
still is decoded and cover-scaled once, and every chunk's graph computes exactly the frames
today's single-graph segment shows at those positions (the Ken Burns expressions take the
chunk's first frame, captions and edge fades see the segment's timeline).

Captions are drawn with drawtext from text files, so any character renders literally."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from resources.domain.models import FPS, AssemblyStrategy, CaptionCue
from resources.media.captions import wrap_text
from resources.media.ffmpeg import (
    AtomicOutput,
    EncoderSettings,
    concat_copy,
    escape_option_value,
    file_url,
    run_graph,
    thread_args,
    video_codec_args,
)
from resources.media.fonts import fallback_chain, font_for


class PictureSettings(EncoderSettings):
    chunk_threads: int
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
    motion: dict, *, width: int, height: int, frames: int, scale_flags: str, first: int = 0
) -> str:
    """scale (re-evaluated per frame) + crop: zoom then pan over a still looped in memory.

    The shot lasts `frames` frames; this chain shows them from frame `first` on (a chunk that
    starts inside the shot), with the very expressions the whole shot would use there."""
    last = max(frames - 1, 1)
    n = f"(n+{first})" if first else "n"
    p = f"min({n}/{last},1)"
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


@dataclass(frozen=True)
class ShotPiece:
    """Frames [first, first + frames) of shot `shot` (which lasts `length` frames)."""

    shot: int
    first: int
    frames: int
    length: int


@dataclass(frozen=True)
class Span:
    """Segment frames [start, start + frames): one shot's body, or the transition between two
    shots (pieces = the outgoing shot's tail and the incoming shot's head)."""

    start: int
    frames: int
    pieces: tuple[ShotPiece, ...]

    @property
    def shots(self) -> tuple[int, ...]:
        return tuple(piece.shot for piece in self.pieces)


def plan_spans(counts: Sequence[int], t_frames: int, max_frames: int | None = None) -> list[Span]:
    """The chunks of a segment whose shots last `counts` frames and overlap by t_frames: each
    shot's body alone (in equal parts of at most max_frames), each overlap a transition span
    of its own. Together they cover the segment's frames once, in order."""
    spans: list[Span] = []
    shot_start = 0
    last = len(counts) - 1
    for i, frames in enumerate(counts):
        if i > 0 and t_frames:
            outgoing = ShotPiece(i - 1, counts[i - 1] - t_frames, t_frames, counts[i - 1])
            incoming = ShotPiece(i, 0, t_frames, frames)
            spans.append(Span(shot_start, t_frames, (outgoing, incoming)))
        body_start = t_frames if i > 0 else 0
        body_end = frames - t_frames if i < last else frames
        length = body_end - body_start
        parts = -(-length // max_frames) if max_frames else 1
        for part in range(parts if length > 0 else 0):
            first = body_start + length * part // parts
            size = body_start + length * (part + 1) // parts - first
            spans.append(Span(shot_start + first, size, (ShotPiece(i, first, size, frames),)))
        shot_start += frames - t_frames
    return spans


class ChunkCache(Protocol):
    """Where encoded chunks are kept between renders, by content key."""

    def get(self, key: str) -> Path | None: ...

    def put(self, key: str, path: Path) -> None: ...


# Part of every chunk's key: a change to how chunks are made renders them again.
CHUNK_METHOD = "segment-chunk-1"


def chunk_codec_args(cfg: EncoderSettings) -> list[str]:
    """The segment's encoder settings for one chunk. Every shot change is a chunk boundary (a
    keyframe already), so x264's scene-cut search has nothing left to find: it is off."""
    args = video_codec_args(cfg)
    if "-x264-params" in args:
        at = args.index("-x264-params") + 1
        args[at] = f"{args[at]}:scenecut=0"
        return args
    return [*args, "-x264-params", "scenecut=0"]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


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


def _frame_exact_output(
    label: str, encoder: Sequence[str], frames: int, target: Path, *, faststart: bool = False
) -> list[str]:
    """Output options writing the graph's [label] to `target`: a video-only MP4 of exactly
    `frames` frames at FPS, encoded with `encoder` (codec and thread options)."""
    args = ["-map", f"[{label}]", "-an", *encoder]
    args += ["-frames:v", str(frames), "-r", str(FPS), "-fps_mode", "cfr"]
    if faststart:  # a file that is watched, not a chunk that is joined
        args += ["-movflags", "+faststart"]
    return [*args, "-f", "mp4", file_url(target)]


def _link_fonts(work: Path) -> dict[Path, Path]:
    """The fonts under plain names in `work`, next to the caption files: a simple graph."""
    fonts: dict[Path, Path] = {}
    for number, source in enumerate(fallback_chain()):
        fonts[source] = work / f"font{number}{source.suffix}"
        try:
            os.symlink(source, fonts[source])
        except OSError:
            shutil.copyfile(source, fonts[source])
    return fonts


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
        chunks: ChunkCache | None = None,
    ) -> dict:
        """Ken Burns over the stills: video-only H.264 MP4 of exactly round(duration_s * FPS)
        frames at FPS, made of one closed-GOP chunk per shot body and per transition. With a
        chunk cache, chunks it holds are reused and the ones made are put there. Returns
        {"chunks": how many, "chunks_rendered": how many were encoded now}."""
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
        # A body longer than a GOP is split at about the GOP length: no more keyframes than a
        # single encode would have, and more chunks to encode side by side.
        spans = plan_spans(counts, t_frames, self.cfg.keyint_s * FPS)
        transition = "fadeblack" if strategy is AssemblyStrategy.fade_through_black else "fade"
        motions = [ken_burns_motion(seed, i, self.cfg.ken_burns_zoom) for i in range(shots)]

        with AtomicOutput(out_path) as out:
            fonts, cue_files = self._captions(
                cues, width=width, height=height, total=total, work=out.work
            )
            digests = [_file_sha256(image) for image in images] if chunks is not None else []
            ready: dict[int, Path] = {}
            todo: list[tuple[int, str, str]] = []  # (span index, graph with [src<k>], key)
            for j, span in enumerate(spans):
                pieces = []
                for k, piece in enumerate(span.pieces):
                    kb = _ken_burns_filters(
                        motions[piece.shot],
                        width=width,
                        height=height,
                        frames=piece.length,
                        scale_flags=self.cfg.scale_flags,
                        first=piece.first,
                    )
                    pieces.append(
                        f"[src{k}]loop=loop={piece.frames - 1}:size=1,settb=1/{FPS},setpts=N,"
                        f"{kb}[piece{k}]"
                    )
                if len(pieces) == 2:
                    pieces.append(
                        f"[piece0]format=yuv444p[xa];[piece1]format=yuv444p[xb];"
                        f"[xa][xb]xfade=transition={transition}"
                        f":duration={span.frames / FPS:.6f}:offset=0,format=yuv420p[picture]"
                    )
                    label = "picture"
                else:
                    label = "piece0"
                chain = self._timeline_chain(
                    cue_files, strategy, total=total, start=span.start, frames=span.frames
                )
                graph = ";".join([*pieces, f"[{label}]" + ",".join(chain) + "[chunk]"])
                key = ""
                if chunks is not None:
                    key = self._chunk_key(
                        graph,
                        [digests[s] for s in span.shots],
                        cue_files,
                        fonts,
                        out.work,
                        width=width,
                        height=height,
                    )
                    cached = chunks.get(key)
                    if cached is not None:
                        ready[j] = cached
                        continue
                todo.append((j, graph, key))
            if todo:
                made = self._encode_spans(
                    images, spans, todo, width=width, height=height, work=out.work
                )
                for (j, _, key), path in zip(todo, made, strict=True):
                    if chunks is not None:
                        chunks.put(key, path)
                    ready[j] = path
            self._join([ready[j] for j in range(len(spans))], out.tmp)
        return {"chunks": len(spans), "chunks_rendered": len(todo)}

    def _encode_spans(
        self,
        images: Sequence[Path],
        spans: Sequence[Span],
        todo: Sequence[tuple[int, str, str]],
        *,
        width: int,
        height: int,
        work: Path,
    ) -> list[Path]:
        """One ffmpeg run encodes every chunk in `todo`, each still decoded and cover-scaled
        once however many chunks show it."""
        used = sorted({s for j, _, _ in todo for s in spans[j].shots})
        uses = {
            s: [(j, k) for j, _, _ in todo for k, t in enumerate(spans[j].shots) if t == s]
            for s in used
        }
        inputs: list[str] = []
        parts: list[str] = []
        for number, s in enumerate(used):
            inputs += ["-f", "image2", "-pattern_type", "none", "-framerate", str(FPS)]
            inputs += ["-i", file_url(images[s])]
            outs = "".join(f"[in{j}_{k}]" for j, k in uses[s])
            splitter = f"split={len(uses[s])}" if len(uses[s]) > 1 else "null"
            parts.append(f"[{number}:v]{_cover(width, height)},{splitter}{outs}")
        outputs: list[str] = []
        paths: list[Path] = []
        for j, graph, _ in todo:
            for k in range(len(spans[j].shots)):
                graph = graph.replace(f"[src{k}]", f"[in{j}_{k}]")
            graph = graph.replace("[piece", f"[c{j}piece").replace("[picture]", f"[c{j}picture]")
            graph = graph.replace("[xa]", f"[c{j}xa]").replace("[xb]", f"[c{j}xb]")
            parts.append(graph.replace("[chunk]", f"[chunk{j}]"))
            path = work / f"chunk{j:03d}.mp4"
            paths.append(path)
            encoder = [*chunk_codec_args(self.cfg), "-threads", str(self.cfg.chunk_threads)]
            outputs += _frame_exact_output(f"chunk{j}", encoder, spans[j].frames, path)
        threads = ["-filter_complex_threads", str(self.cfg.threads)] if self.cfg.threads else []
        run_graph(
            inputs,
            ";\n".join(parts),
            outputs,
            options=threads,
            what=f"render_segment chunks {[j for j, _, _ in todo]}",
            timeout_s=self.cfg.timeout_s,
        )
        return paths

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
            _, cue_files = self._captions(
                cues, width=width, height=height, total=total, work=out.work
            )
            chain = self._timeline_chain(cue_files, strategy, total=total, start=0, frames=total)
            graph = ";\n".join([*parts, f"[{label}]" + ",".join(chain) + "[vout]"])
            encoder = [*video_codec_args(self.cfg), *thread_args(self.cfg)]
            run_graph(
                inputs,
                graph,
                _frame_exact_output("vout", encoder, total, out.tmp, faststart=True),
                what=f"render_segment {out_path}",
                timeout_s=self.cfg.timeout_s,
            )

    def _timeline_chain(
        self,
        cue_files: Sequence[tuple[float, float, str]],
        strategy: AssemblyStrategy,
        *,
        total: int,
        start: int,
        frames: int,
    ) -> list[str]:
        """Filters for segment frames [start, start + frames) on the segment's timeline:
        captions shown then and edge fades; ends renumbered from 0 for the encoder."""
        # Renumber frames so the timeline is exactly n / FPS whatever the joins did (a
        # one-frame shot has no duration of its own for concat to advance by).
        chain = [f"settb=1/{FPS}", f"setpts=N+{start}" if start else "setpts=N"]
        first_s, end_s = start / FPS, (start + frames) / FPS
        for shown_from, shown_until, drawtext in cue_files:
            if shown_from < end_s and shown_until > first_s:
                chain.append(drawtext)
        if strategy is AssemblyStrategy.fade_through_black:
            edge = min(self.cfg.edge_fade_s, total / FPS / 4)
            if first_s < edge:
                chain.append(f"fade=t=in:st=0:d={edge:.3f}")
            # the last frame starts at (total - 1) / FPS: it is the first fully black one
            out_fade = max(edge - 1 / FPS, 0.001)
            if end_s > total / FPS - edge:
                chain.append(f"fade=t=out:st={total / FPS - edge:.6f}:d={out_fade:.6f}")
        chain.append("format=yuv420p")
        if start:
            chain.append("setpts=N")
        return chain

    def _chunk_key(
        self,
        graph: str,
        digests: Sequence[str],
        cue_files: Sequence[tuple[float, float, str]],
        fonts: dict[Path, Path],
        work: Path,
        *,
        width: int,
        height: int,
    ) -> str:
        """What makes two chunks the same: the graph (file names inside it made independent of
        the scratch folder), the stills it shows, the caption texts it draws, the fonts and
        the encoder settings."""
        texts = {
            name.name: name.read_text(encoding="utf-8")
            for name in sorted(work.glob("cue*.txt"))
            if str(name) in graph or escape_option_value(str(name)) in graph
        }
        payload = json.dumps(
            [
                CHUNK_METHOD,
                graph.replace(escape_option_value(str(work)), "{work}"),
                list(digests),
                texts,
                sorted((link.name, str(source)) for source, link in fonts.items()),
                chunk_codec_args(self.cfg),
                self.cfg.chunk_threads,
                [width, height, FPS],
            ],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    def _join(self, chunk_paths: Sequence[Path], target: Path) -> None:
        """The segment from its chunks, stream-copied (they share every encoder setting)."""
        if len(chunk_paths) == 1:
            shutil.copyfile(chunk_paths[0], target)
            return
        concat_copy(
            chunk_paths,
            target,
            options=["-video_track_timescale", str(FPS * 512)],
            what=f"join chunks {target}",
            timeout_s=self.cfg.timeout_s,
        )

    def _captions(
        self, cues: Sequence[CaptionCue], *, width: int, height: int, total: int, work: Path
    ) -> tuple[dict[Path, Path], list[tuple[float, float, str]]]:
        """The fonts linked into `work` and (shown from, shown until, drawtext filter) of each
        cue with something to show in a segment of `total` frames."""
        fonts = _link_fonts(work)
        duration_s = total / FPS
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
                (
                    start,
                    end,
                    "drawtext="
                    f"fontfile={escape_option_value(str(font))}"
                    f":textfile={escape_option_value(str(text_file))}"
                    f":expansion=none:text_shaping=1:fontsize={size}:fontcolor=white"
                    f":borderw={border}:bordercolor=black@0.85"
                    f":box=1:boxcolor=black@0.45:boxborderw={pad}"
                    f":line_spacing={round(size * 0.18)}:text_align=C"
                    f":x=(w-text_w)/2:y=h*{1 - bottom_margin:.3f}-text_h"
                    f":enable='gte(t,{start:.4f})*lt(t,{end:.4f})'",
                )
            )
        return fonts, filters
