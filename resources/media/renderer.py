"""The renderer resource: one set of ffmpeg settings, and the media tools that use them.

The work lives in resources/media/, one concern per module: `picture` (a segment's picture from
stills or from a clip, with captions), `soundtrack` (narration over ducked music, loudness),
`join` (segments and soundtrack into the movie, thumbnails), `probe` (PyAV) and `ffmpeg`
(running it, atomic outputs). This class only holds the settings and hands them to those parts,
so assets see one `renderer` resource whatever the parts become. Import the parts' own names
(probe, RenderError, ...) from their modules: nothing is re-exported here."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg

from resources.media.ffmpeg import AtomicOutput, video_codec_args
from resources.media.join import Joiner
from resources.media.picture import SegmentPicture
from resources.media.probe import probe
from resources.media.soundtrack import Soundtrack


def _handed_to(part: type, name: str) -> Callable:
    """A resource method that calls `part(resource).name(...)`: the part does the work with the
    resource as its settings, and its signature and docstring are the method's."""
    method = getattr(part, name)

    @functools.wraps(method)
    def hand_over(self, *args, **kwargs):
        return method(part(self), *args, **kwargs)

    return hand_over


class FfmpegRenderer(dg.ConfigurableResource):
    """Renders segments and the final movie with the ffmpeg binary from imageio-ffmpeg.

    Segments: H.264 (libx264, yuv420p, FPS), video only, exactly round(duration_s * FPS)
    frames, from stills (Ken Burns) or from a generated clip. Final: segments joined by the
    concat demuxer without re-encoding, plus AAC audio (narration over ducked music,
    loudness-normalised in two passes)."""

    # How many renders may run at once across workers (for resources.runtime.limits.producer_slot);
    # each one already uses every core, and a 1080x1920 segment render peaks near 350 MB.
    max_concurrency: int = 2
    preset: str = "veryfast"
    crf: int = 21
    # Extra libx264 options (x264-params syntax) on top of the preset. The default swaps the
    # preset's subpixel refinement and hexagon search for the cheapest ones: ~30% less CPU per
    # segment (2 cores, 1080x1920: ~2.2x instead of ~1.2-1.4x real time) for ~6% larger files
    # at the same crf and an SSIM drop of ~0.001. Measured on the render bench's stills
    # (issue 21): weightp=0 skips the weighted-prediction analysis a Ken Burns frame never
    # needs (the same bytes, ~3% less encoder CPU); partitions=none skips the 8x8/4x4 intra
    # and inter partition search (~10% less encoder CPU, SSIM to the source 0.9649 instead of
    # 0.9651, files 0.2% larger). 8x8dct=0 keeps to 4x4 transforms: ~18% less encoder CPU on
    # a Ken Burns shot for the same size and SSIM (0.9789 instead of 0.9790; 5 s at 1080x1920,
    # minimum of three encodes each). "" gives the plain preset.
    x264_params: str = "subme=1:me=dia:weightp=0:partitions=none:8x8dct=0"
    # Longest distance between keyframes; short GOPs cost CPU and bits on every segment.
    keyint_s: int = 5
    threads: int = 0  # 0 = let ffmpeg / x264 decide (all cores)
    # x264 threads of each chunk of a stills segment. A segment's chunks (shot bodies of at
    # most keyint_s, transitions) are encoded side by side, so one thread each keeps the cores
    # busy with less overhead than frame threads (~10% less CPU on 2 cores, 600 MB instead of
    # 750 MB per render) and gives the same bytes on any machine.
    chunk_threads: int = 1
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

    def video_codec_args(self) -> list[str]:
        return video_codec_args(self)

    # The parts' own methods, called on a part made with this resource's settings.
    render_segment = _handed_to(SegmentPicture, "render_segment")
    render_clip = _handed_to(SegmentPicture, "render_clip")
    segments_duration = _handed_to(Joiner, "segments_duration")
    join = _handed_to(Joiner, "join")
    thumbnail = _handed_to(Joiner, "thumbnail")

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
        joiner = Joiner(self)
        total = joiner.segments_duration(segment_videos)
        with AtomicOutput(out_path) as out:
            soundtrack = out.work / "soundtrack.m4a"
            self.mix_soundtrack(narration, music, duration_s=total, out_path=soundtrack)
            joiner.join_into(segment_videos, soundtrack, total, out.tmp)

    def mix_soundtrack(
        self,
        narration: Sequence[tuple[Path, float]],
        music: Path | None,
        *,
        duration_s: float,
        out_path: Path,
    ) -> None:
        Soundtrack(self, narration, music, duration_s).write(out_path)

    def probe(self, path: Path) -> dict:
        return probe(path)


class StoreChunks:
    """A ChunkCache in the artifact store: each chunk stored under its content hash and found
    again by its content key (a damaged copy counts as absent and is made again)."""

    def __init__(self, store) -> None:
        self.store = store

    def get(self, key: str) -> Path | None:
        from resources.storage.store import DamagedArtifact

        ref = self.store.lookup(key)
        if ref is None:
            return None
        try:
            return self.store.local_path(ref)
        except DamagedArtifact:
            return None

    def put(self, key: str, path: Path) -> None:
        self.store.remember(key, self.store.put_file(path, ".mp4"))
