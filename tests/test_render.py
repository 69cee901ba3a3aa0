"""FfmpegRenderer against the real ffmpeg binary: stills drawn with Pillow, WAVs made with numpy."""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from resources.domain.models import FPS, AssemblyStrategy, CaptionCue
from resources.media.ffmpeg import RenderError, escape_option_value, run_ffmpeg
from resources.media.picture import layout_caption
from resources.media.probe import mp4_duration, probe
from resources.media.renderer import FfmpegRenderer
from resources.media.soundtrack import parse_ebur128_summary
from resources.runtime.settings import ffmpeg_exe, font_path

W, H = 320, 568  # small portrait frames keep the suite fast
SPECIAL = 'He said "50% off: C:\\path\\new {x}" — Привет, Γειά'
SR = 48000


# -- helpers -----------------------------------------------------------------------------------


def make_still(path: Path, seed: int, size: tuple[int, int] = (W, H), flat: int | None = None):
    w, h = size
    if flat is not None:
        Image.new("RGB", (w, h), (flat, flat, flat)).save(path)
        return path
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, np.full_like(x, 60 * seed % 255)], -1)
    base = base + rng.normal(0, 12, (h, w, 3))
    image = Image.fromarray(np.clip(base, 0, 255).astype("uint8"))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(10, w // 4)
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    image.save(path)
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data.tobytes())
    return path


def tone(freq: float, seconds: float, rate: int, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def frame_at(video: Path, at_s: float) -> np.ndarray:
    info = probe(video)
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-ss",
            f"{at_s:.3f}",
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(info["height"], info["width"], 3)


def decode_audio(video: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(video),
            "-map",
            "0:a",
            "-ac",
            "1",
            "-ar",
            str(SR),
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.float32)


def band_amplitude(x: np.ndarray, freq: float) -> float:
    t = np.arange(len(x)) / SR
    return float(2 * abs(np.mean(x * np.exp(-2j * np.pi * freq * t))))


def integrated_loudness(video: Path) -> float:
    args = ["-nostats", "-i", str(video), "-map", "0:a", "-af", "ebur128", "-f", "null", "-"]
    err = run_ffmpeg(args, what="loudness measurement")
    return float(re.findall(r"I:\s*(-?[\d.]+) LUFS", err)[-1])


def top_level_boxes(path: Path) -> list[str]:
    kinds, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        kinds.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        offset += size if size else len(data)
    return kinds


def lower_third(frame: np.ndarray) -> np.ndarray:
    return frame[frame.shape[0] * 2 // 3 :].astype(np.float32)


def segment(
    renderer: FfmpegRenderer,
    images: list[Path],
    out_path: Path,
    *,
    duration_s: float,
    seed: int,
    strategy: AssemblyStrategy = AssemblyStrategy.cut,
    cues: list[CaptionCue] | None = None,
    size: tuple[int, int] = (W, H),
    **options,
) -> dict:
    """renderer.render_segment at the tests' frame size, with hard cuts and no captions unless
    a test says otherwise."""
    width, height = size
    return renderer.render_segment(
        images,
        width=width,
        height=height,
        duration_s=duration_s,
        cues=cues or [],
        strategy=strategy,
        seed=seed,
        out_path=out_path,
        **options,
    )


@pytest.fixture(scope="module")
def renderer() -> FfmpegRenderer:
    return FfmpegRenderer()


@pytest.fixture(scope="module")
def stills(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("stills")
    return [make_still(folder / f"shot{i}.png", seed=i + 1) for i in range(3)]


# -- segments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", list(AssemblyStrategy))
def test_segment_exact_format_for_each_strategy(renderer, stills, tmp_path, strategy):
    out = tmp_path / f"{strategy.value}.mp4"
    cues = [CaptionCue(start_s=0.3, end_s=2.0, text="Caption one")]
    segment(renderer, stills, out, duration_s=4, cues=cues, strategy=strategy, seed=5)
    info = probe(out, count_frames=True)
    assert info["video_codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (W, H)
    assert info["fps"] == FPS
    assert info["nb_frames"] == 4 * FPS
    assert info["duration_s"] == pytest.approx(4.0, abs=0.02)
    assert info["audio_codec"] is None
    assert mp4_duration(out) == pytest.approx(4.0, abs=1e-6)
    first, last = frame_at(out, 0.0).mean(), frame_at(out, 4.0 - 1.5 / FPS).mean()
    if strategy is AssemblyStrategy.fade_through_black:
        assert first < 12 and last < 12
    else:
        assert first > 40 and last > 40
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def plain_segment(renderer, stills, out_path, duration_s):
    """One still, no captions, hard cuts: a segment for tests about the final mix."""
    segment(renderer, stills[:1], out_path, duration_s=duration_s, seed=0)
    return out_path


def test_segment_fractional_duration_and_single_image(renderer, stills, tmp_path):
    out = tmp_path / "short.mp4"
    segment(renderer, stills[:1], out, duration_s=2.5, strategy=AssemblyStrategy.crossfade, seed=1)
    assert probe(out, count_frames=True)["nb_frames"] == 75


@pytest.mark.parametrize("strategy", list(AssemblyStrategy))
def test_many_shots_in_a_short_segment(renderer, stills, tmp_path, strategy):
    out = tmp_path / "many.mp4"
    images = (stills * 2)[:5]
    for seconds, frames in ((1.0, 30), (0.2, 6)):
        segment(renderer, images, out, duration_s=seconds, strategy=strategy, seed=4)
        assert probe(out, count_frames=True)["nb_frames"] == frames
    with pytest.raises(ValueError):
        segment(renderer, images, out, duration_s=0.1, strategy=strategy, seed=4)


def test_explicit_thread_count(stills, tmp_path):
    out = tmp_path / "threads.mp4"
    segment(
        FfmpegRenderer(threads=1, x264_params=""),
        stills[:2],
        out,
        duration_s=1,
        cues=[CaptionCue(start_s=0.1, end_s=0.9, text="one thread")],
        strategy=AssemblyStrategy.crossfade,
        seed=1,
    )
    assert probe(out, count_frames=True)["nb_frames"] == FPS


def test_crossfade_blends_shots(renderer, tmp_path):
    red = tmp_path / "red.png"
    blue = tmp_path / "blue.png"
    Image.new("RGB", (W, H), (220, 20, 20)).save(red)
    Image.new("RGB", (W, H), (20, 20, 220)).save(blue)
    out = tmp_path / "xf.mp4"
    segment(renderer, [red, blue], out, duration_s=4, strategy=AssemblyStrategy.crossfade, seed=1)
    # shots of (120 + 15) / 2 frames overlap over frames 52..67; 2.0 s is inside the blend
    r, _, b = frame_at(out, 2.0).reshape(-1, 3).mean(0)
    assert 60 < r < 180 and 60 < b < 180
    assert frame_at(out, 0.5)[..., 0].mean() > 180
    assert frame_at(out, 3.5)[..., 2].mean() > 180


def test_ken_burns_moves(renderer, stills, tmp_path):
    out = tmp_path / "kb.mp4"
    segment(renderer, stills[:1], out, duration_s=3, seed=11)
    a, b = frame_at(out, 1.0).astype(np.float32), frame_at(out, 2.0).astype(np.float32)
    assert np.abs(a - b).mean() > 4.0


def test_captions_only_during_their_cue(renderer, tmp_path):
    gray = make_still(tmp_path / "gray.png", seed=0, flat=100)
    out = tmp_path / "cap.mp4"
    cue = CaptionCue(start_s=1.0, end_s=2.0, text="Visible words here")
    segment(renderer, [gray], out, duration_s=3, cues=[cue], seed=2)

    def bright(at: float) -> float:
        return float((lower_third(frame_at(out, at)) > 200).mean())

    assert bright(1.5) > 0.005
    assert bright(0.5) == 0.0
    assert bright(2.5) == 0.0
    # the upper part of the frame never carries the caption
    top = frame_at(out, 1.5)[: H // 2].astype(np.float32)
    assert np.abs(top - 100).max() < 12


def test_special_characters_render_literally(renderer, tmp_path):
    gray = make_still(tmp_path / "gray.png", seed=0, flat=100)
    out = tmp_path / "special.mp4"
    cues = [
        CaptionCue(start_s=0.0, end_s=1.0, text=SPECIAL),
        CaptionCue(start_s=1.0, end_s=2.0, text="%{pts} %{n} \\' ' : ; , [x] ="),
    ]
    segment(renderer, [gray], out, duration_s=2, cues=cues, seed=3)
    first, second = lower_third(frame_at(out, 0.5)), lower_third(frame_at(out, 1.5))
    assert (first > 200).mean() > 0.005
    assert (second > 200).mean() > 0.002
    # long special text wraps onto several lines: bright pixels span a tall band
    rows = np.where((first > 200).any(axis=(1, 2)))[0]
    assert rows.max() - rows.min() > 2.5 * round(min(W, H) * 0.06)


def test_special_text_lines_have_their_full_width(renderer, tmp_path):
    """Each drawn line is as wide as Pillow measures the literal line with the same font, so no
    backslash, quote, brace, percent sign or non-Latin glyph was dropped or expanded."""
    width, height = 1080, 1920
    gray = make_still(tmp_path / "gray.png", seed=0, size=(width, height), flat=100)
    out = tmp_path / "literal.mp4"
    cue = CaptionCue(start_s=0.0, end_s=1.0, text=SPECIAL)
    segment(renderer, [gray], out, duration_s=1, cues=[cue], seed=3, size=(width, height))
    lines, size = layout_caption(SPECIAL, width=width, height=height, font_file=font_path())
    assert len(lines) >= 2
    font = ImageFont.truetype(str(font_path()), size)
    bright = frame_at(out, 0.5).astype(np.float32).min(axis=2) > 200
    rows = np.where(bright.any(axis=1))[0]
    bands = np.split(rows, np.where(np.diff(rows) > 1)[0] + 1)
    assert len(bands) == len(lines)
    for band, line in zip(bands, lines, strict=True):
        cols = np.where(bright[band].any(axis=0))[0]
        drawn, expected = cols.max() - cols.min() + 1, font.getlength(line)
        assert abs(drawn - expected) < 0.03 * expected + 4, (line, drawn, expected)


def test_paths_with_filter_syntax_characters(renderer, stills, tmp_path):
    folder = tmp_path / "we'ird: [dir], x;y %d"
    folder.mkdir()
    image = folder / "shot: 'a'.png"
    image.write_bytes(stills[0].read_bytes())
    out = folder / "out, [1].mp4"
    cues = [CaptionCue(start_s=0, end_s=1, text=SPECIAL)]
    segment(renderer, [image], out, duration_s=1, cues=cues, seed=3)
    assert probe(out, count_frames=True)["nb_frames"] == FPS
    assert escape_option_value("a:b'c") == "a\\\\:b\\\\\\'c"


def test_chunks_cover_the_segment_once_and_show_one_or_two_shots():
    from resources.media.picture import plan_spans, shot_frame_counts

    for total, shots, t_frames, longest in ((300, 2, 15, 150), (300, 1, 0, 150), (30, 5, 3, None)):
        counts = shot_frame_counts(total, shots, t_frames)
        spans = plan_spans(counts, t_frames, longest)
        assert [s.start for s in spans] == list(np.cumsum([0] + [s.frames for s in spans])[:-1])
        assert sum(s.frames for s in spans) == total
        assert all(1 <= len(s.pieces) <= 2 and s.frames >= 1 for s in spans)
        assert all(s.frames <= (longest or total) for s in spans)
        for span in spans:  # a transition: the outgoing shot's last frames, the next one's first
            if len(span.pieces) == 2:
                out, into = span.pieces
                assert into.shot == out.shot + 1 and into.first == 0
                assert out.first + out.frames == out.length == counts[out.shot]
    # one still over 10 s: two chunks of a GOP each; two stills crossfading: body, fade, body
    assert [s.frames for s in plan_spans([300], 0, 150)] == [150, 150]
    assert [len(s.pieces) for s in plan_spans(shot_frame_counts(300, 2, 15), 15, 150)] == [1, 2, 1]


class DictChunks:
    """A ChunkCache in a folder, counting what it was asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.keys: dict[str, Path] = {}

    def get(self, key: str) -> Path | None:
        return self.keys.get(key)

    def put(self, key: str, path: Path) -> None:
        kept = self.folder / f"{key}.mp4"
        kept.write_bytes(path.read_bytes())
        self.keys[key] = kept


def decoded_frames(video: Path) -> list[str]:
    """The MD5 of every decoded picture (container bytes may differ)."""
    text = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(video), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.rsplit(",", 1)[-1].strip() for line in text.splitlines() if line[:1].isdigit()]


@pytest.mark.parametrize("strategy", [AssemblyStrategy.crossfade, AssemblyStrategy.cut])
def test_a_shot_edit_encodes_only_the_chunks_that_show_it(renderer, stills, tmp_path, strategy):
    cache_dir = tmp_path / "chunks"
    cache_dir.mkdir()
    chunks = DictChunks(cache_dir)
    other = make_still(tmp_path / "other.png", seed=9)
    cues = [CaptionCue(start_s=0.2, end_s=2.6, text="Across the cut")]

    def render(images, name, cache):
        out = tmp_path / name
        made = segment(
            renderer, images, out, duration_s=3, cues=cues, strategy=strategy, seed=4, chunks=cache
        )
        return out, made

    # crossfade: body, transition, body, transition, body; cut: one chunk per shot
    spans = 5 if strategy is AssemblyStrategy.crossfade else 3
    first, made = render(stills, "first.mp4", chunks)
    assert made == {"chunks": spans, "chunks_rendered": spans}
    again, made = render(stills, "again.mp4", chunks)
    assert made == {"chunks": spans, "chunks_rendered": 0}
    assert decoded_frames(again) == decoded_frames(first)
    # the middle shot: its body and, with transitions, the two crossfades it takes part in
    edited = [stills[0], other, stills[2]]
    changed, made = render(edited, "edited.mp4", chunks)
    assert made == {"chunks": spans, "chunks_rendered": 3 if spans == 5 else 1}
    fresh, made = render(edited, "fresh.mp4", None)
    assert made["chunks_rendered"] == spans
    assert decoded_frames(changed) == decoded_frames(fresh)
    assert decoded_frames(changed) != decoded_frames(first)
    info = probe(changed, count_frames=True)
    assert info["nb_frames"] == 3 * FPS and mp4_duration(changed) == pytest.approx(3.0, abs=1e-6)


def test_failed_render_raises_with_ffmpeg_message_and_leaves_nothing(renderer, stills, tmp_path):
    out = tmp_path / "fail.mp4"
    with pytest.raises(RenderError) as err:
        segment(renderer, [stills[0], tmp_path / "missing.png"], out, duration_s=2, seed=1)
    assert "No such file or directory" in str(err.value)
    assert "missing.png" in str(err.value)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_render_keeps_previous_file(renderer, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"old")
    with pytest.raises(RenderError):
        segment(renderer, [tmp_path / "nope.png"], out, duration_s=1, seed=1)
    assert out.read_bytes() == b"old"


# -- final movie -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def final_movie(renderer, stills, tmp_path_factory):
    folder = tmp_path_factory.mktemp("final")
    segments = []
    for i in range(3):
        seg = folder / f"seg{i}.mp4"
        images = stills[i : i + 1] + stills[:1]
        segment(renderer, images, seg, duration_s=3, strategy=AssemblyStrategy.crossfade, seed=i)
        segments.append(seg)
    # narration: a 1 kHz tone at 24 kHz mono; music: a 220 Hz tone, 2 s, looped by the renderer
    voice = write_wav(folder / "voice.wav", tone(1000, 1.0, 24000, 0.3), 24000)
    music_samples = np.repeat(tone(220, 2.0, 44100, 0.5), 2)
    music = write_wav(folder / "music.wav", music_samples, 44100, channels=2)
    narration = [(voice, 0.5), (voice, 3.5), (voice, 6.5)]
    out = folder / "final.mp4"
    renderer.render_final(segments, narration, music, out_path=out)
    return out, narration


def test_final_format_and_duration(final_movie):
    out, _ = final_movie
    info = probe(out, count_frames=True)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert info["sample_rate"] == 48000 and info["channels"] == 2
    assert (info["width"], info["height"]) == (W, H)
    assert info["nb_frames"] == 9 * FPS
    assert info["duration_s"] == pytest.approx(9.0, abs=0.05)
    assert len(decode_audio(out)) / SR == pytest.approx(9.0, abs=0.05)
    assert top_level_boxes(out).index("moov") < top_level_boxes(out).index("mdat")  # faststart


def test_final_music_ducks_under_narration(final_movie):
    out, narration = final_movie
    audio = decode_audio(out)
    speech = [audio[int((o + 0.1) * SR) : int((o + 0.9) * SR)] for _, o in narration]
    # music alone: after the release of one clip, before the look-ahead of the next
    gaps = [audio[int(a * SR) : int(b * SR)] for a, b in ((2.2, 3.0), (5.2, 6.0), (8.2, 9.0))]
    music_in_speech = np.mean([band_amplitude(x, 220) for x in speech])
    music_in_gaps = np.mean([band_amplitude(x, 220) for x in gaps])
    voice_in_speech = np.mean([band_amplitude(x, 1000) for x in speech])
    assert voice_in_speech > 0.05
    assert music_in_gaps > 0.02
    assert music_in_speech < 0.5 * music_in_gaps  # at least 6 dB of ducking
    # look-ahead: the music is already down in the breath before each clip starts
    before = [audio[int((o - 0.15) * SR) : int((o - 0.05) * SR)] for _, o in narration]
    assert np.mean([band_amplitude(x, 220) for x in before]) < 0.7 * music_in_gaps


def test_final_loudness_near_target(renderer, final_movie):
    out, _ = final_movie
    assert integrated_loudness(out) == pytest.approx(renderer.loudness_lufs, abs=1.0)


def test_final_music_sits_below_the_narration_whatever_the_file_levels(renderer, stills, tmp_path):
    seg = plain_segment(renderer, stills, tmp_path / "seg.mp4", 3)
    # a whispering narration (-40 dBFS) over music at nearly full scale
    voice = write_wav(tmp_path / "quiet.wav", tone(1000, 1.0, 24000, 0.01), 24000)
    music = write_wav(tmp_path / "loud.wav", np.repeat(tone(220, 6.0, 44100, 0.9), 2), 44100, 2)
    out = tmp_path / "levels.mp4"
    renderer.render_final([seg, seg], [(voice, 0.5), (voice, 4.5)], music, out_path=out)
    audio = decode_audio(out)
    voice_level = np.mean(
        [band_amplitude(audio[int(a * SR) : int((a + 0.8) * SR)], 1000) for a in (0.6, 4.6)]
    )
    # music alone: after the release of the first clip, before the look-ahead of the second
    gap_music = band_amplitude(audio[int(2.3 * SR) : int(3.9 * SR)], 220)
    ratio_db = 20 * np.log10(gap_music / voice_level)
    assert ratio_db == pytest.approx(renderer.music_level_db, abs=2.0)
    assert integrated_loudness(out) == pytest.approx(renderer.loudness_lufs, abs=1.0)


def test_final_without_music_or_narration(renderer, stills, tmp_path):
    seg = plain_segment(renderer, stills, tmp_path / "seg.mp4", 2)
    out = tmp_path / "silent.mp4"
    renderer.render_final([seg, seg], [], None, out_path=out)
    info = probe(out, count_frames=True)
    assert info["audio_codec"] == "aac" and info["nb_frames"] == 4 * FPS
    assert info["duration_s"] == pytest.approx(4.0, abs=0.05)


def test_final_failure_leaves_nothing(renderer, tmp_path):
    out = tmp_path / "final.mp4"
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video")
    with pytest.raises(RenderError):
        renderer.render_final([bogus], [], None, out_path=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bogus.mp4"]


# -- thumbnail / probe -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix,codec", [(".jpg", "mjpeg"), (".png", "png")])
def test_thumbnail(renderer, final_movie, tmp_path, suffix, codec):
    out, _ = final_movie
    thumb = tmp_path / f"thumb{suffix}"
    renderer.thumbnail(out, at_s=4.0, out_path=thumb)
    info = probe(thumb)
    assert info["video_codec"] == codec and (info["width"], info["height"]) == (W, H)
    renderer.thumbnail(out, at_s=999, out_path=thumb)  # clamped to the last frame
    assert Image.open(thumb).size == (W, H)


def test_probe_audio_only_and_errors(tmp_path):
    wav = write_wav(tmp_path / "a.wav", tone(440, 1.0, 22050, 0.2), 22050)
    info = probe(wav)
    assert info["video_codec"] is None and info["audio_codec"] == "pcm_s16le"
    assert info["sample_rate"] == 22050 and info["channels"] == 1
    assert info["duration_s"] == pytest.approx(1.0, abs=0.01)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(RenderError):
        probe(junk)
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "absent.mp4")


def test_parse_ebur128_summary():
    summary = """[Parsed_ebur128_0 @ 0x1] Summary:

  Integrated loudness:
    I:         -15.9 LUFS
    Threshold: -25.9 LUFS

  Loudness range:
    LRA:         2.4 LU
    Threshold: -36.0 LUFS
    LRA low:   -16.8 LUFS
    LRA high:  -14.4 LUFS

  True peak:
    Peak:      -10.8 dBFS
"""
    assert parse_ebur128_summary(summary) == {
        "input_i": "-15.9",
        "input_thresh": "-25.9",
        "input_lra": "2.4",
        "input_tp": "-10.8",
        "target_offset": "0",
    }
    assert "input_tp" not in parse_ebur128_summary(summary.replace("-10.8 dBFS", "-inf dBFS"))
    assert parse_ebur128_summary(summary.replace("-15.9 LUFS", "-inf LUFS")) is None
    two = summary.replace("Parsed_ebur128_0", "ebur128@voice") + summary.replace(
        "Parsed_ebur128_0", "ebur128@music"
    ).replace("-15.9", "-30.5")
    assert parse_ebur128_summary(two, instance="ebur128@voice")["input_i"] == "-15.9"
    assert parse_ebur128_summary(two, instance="ebur128@music")["input_i"] == "-30.5"
    assert parse_ebur128_summary(two, instance="ebur128@other") is None
    assert parse_ebur128_summary("no summary") is None
    assert mp4_duration(Path(__file__)) is None
