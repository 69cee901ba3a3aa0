"""What a media file holds, read through PyAV (the `av` wheel bundles its own FFmpeg libraries):
no parsing of ffmpeg's stderr or of MP4 boxes by hand."""

from __future__ import annotations

from pathlib import Path

from resources.media.ffmpeg import RenderError


def _open(path: Path):
    import av

    try:
        return av.open(str(path.resolve()))
    except (av.FFmpegError, OSError) as error:
        raise RenderError(f"probe: could not read {path}: {error}") from error


def probe(path: Path | str, *, count_frames: bool = False) -> dict:
    """Describe a media file. Keys: duration_s (also as "duration"), bitrate_kbps, video_codec,
    width, height, fps, pix_fmt, audio_codec, sample_rate, channels, video_streams,
    audio_streams; None where absent. With count_frames=True also nb_frames (from the
    container's index, or by reading the packets: no decoding).
    Raises FileNotFoundError for a missing file and RenderError for one that cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"probe: no such file: {path}")
    info: dict = {"path": str(path)}
    with _open(path) as container:
        duration = container.duration / 1_000_000 if container.duration else None
        videos, audios = container.streams.video, container.streams.audio
        video = videos[0] if videos else None
        audio = audios[0] if audios else None
        rate = (video.average_rate or video.guessed_rate) if video else None
        info |= {
            "duration_s": duration,
            "duration": duration,
            "bitrate_kbps": container.bit_rate // 1000 if container.bit_rate else None,
            "video_codec": video.codec_context.name if video else None,
            "width": video.codec_context.width if video else None,
            "height": video.codec_context.height if video else None,
            "fps": round(float(rate), 3) if rate else None,
            "pix_fmt": video.codec_context.pix_fmt if video else None,
            "audio_codec": audio.codec_context.name if audio else None,
            "sample_rate": audio.codec_context.sample_rate if audio else None,
            "channels": audio.codec_context.channels if audio else None,
            "video_streams": len(videos),
            "audio_streams": len(audios),
        }
        if count_frames and video is not None:
            frames = video.frames
            if not frames:
                frames = sum(1 for packet in container.demux(video) if packet.size)
            info["nb_frames"] = frames
    return info


def mp4_duration(path: Path | str) -> float | None:
    """The exact duration of an MP4 (its movie header), or None if it is not a readable MP4."""
    path = Path(path)
    try:
        with _open(path) as container:
            if "mp4" not in container.format.name or not container.duration:
                return None
            return container.duration / 1_000_000
    except RenderError:
        return None
