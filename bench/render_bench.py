"""Rendering benchmark: a synthetic movie through FfmpegRenderer, compared to a bare encode.

    python bench/render_bench.py                     # 60 s movie + 300 s movie for memory
    python bench/render_bench.py --seconds 60 --compare-seconds 0 --jobs 2

Builds N/10 segments of 1080x1920 from synthetic stills (2 per segment) with captions, narration
WAVs and a music WAV made here; renders the segments two at a time (as the build's two workers
do) while the soundtrack is mixed, then joins the movie. Prints one figure per line: wall time,
speed (movie seconds per wall second; target >= 3x on 2 cores, issue 21), the makespan against
the total ffmpeg CPU / cores (how busy the cores were), a bare ffmpeg encode of the same stills
for the same number of frames in the same run, the SSIM of the movie against the previous
renderer's output of the same movie (resources/media/picture.py at 67f2782, read from git;
target >= 0.98), and peak memory (this process plus all its ffmpeg children) for a short and a
long movie with their ratio (target <= 1.1). Each movie runs in a fresh child process so peaks
do not mix.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import types
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from resources.domain.models import (  # noqa: E402
    FPS,
    SEGMENT_SECONDS,
    SPEECH_LEAD_IN_S,
    AssemblyStrategy,
    WordTiming,
)
from resources.media.captions import cues_from_words  # noqa: E402
from resources.media.ffmpeg import run_ffmpeg  # noqa: E402
from resources.media.renderer import FfmpegRenderer  # noqa: E402
from resources.runtime.settings import ffmpeg_exe  # noqa: E402

# The encoder settings of the renderer before issue 21, for the reference output.
REFERENCE_X264_PARAMS = "subme=1:me=dia"


# The segment renderer as it was before issue 21 (one filter graph and one encode per segment),
# read from git at bench time rather than kept as a copy. Modules it imports that moved since
# (issue 17) are renamed on the way in.
REFERENCE = "67f2782:resources/media/picture.py"
_MOVED = {
    "resources.models": "resources.domain.models",  # persisted old name
    "resources.captions": "resources.media.captions",  # persisted old name
    "resources.fonts": "resources.media.fonts",  # persisted old name
}


def reference_picture_class() -> type:
    """SegmentPicture of the renderer before issue 21 (needs git history, not a shallow clone)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", REFERENCE], capture_output=True, text=True, check=True
    ).stdout
    for old, new in _MOVED.items():
        source = re.sub(rf"^from {re.escape(old)} import", f"from {new} import", source, flags=re.M)
    module = types.ModuleType("render_reference")
    module.__file__ = REFERENCE
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, REFERENCE, "exec"), module.__dict__)
    return module.SegmentPicture


WORDS = (
    "the quick brown fox jumps over a lazy dog while rivers carve deep canyons into ancient "
    "stone and stars drift slowly across the silent winter sky. Every story begins somewhere, "
    'but few remember where: Привет, Γειά σου, 50% of "quotes" {braces} C:\\path'
).split()


# -- synthetic inputs --------------------------------------------------------------------------


def make_still(path: Path, seed: int, width: int, height: int) -> None:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + seed * 37 % 128],
        -1,
    )
    base += rng.normal(0, 10, (height, width, 3)).astype(np.float32)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(width // 40, width // 5))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    image.save(path, compress_level=1)


def write_wav_chunks(path: Path, rate: int, channels: int, seconds: float, fn) -> None:
    """Write a WAV one second at a time: fn(t) -> samples in [-1, 1] of shape (len(t), ch)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        total = int(seconds * rate)
        for start in range(0, total, rate):
            t = np.arange(start, min(total, start + rate)) / rate
            block = np.clip(fn(t), -1, 1)
            out.writeframes((block * 32767).astype("<i2").tobytes())


def narration_clip(path: Path, seed: int, seconds: float) -> list[WordTiming]:
    """Speech-like audio (syllable-rate modulated harmonics) plus its word timings."""
    rng = np.random.default_rng(seed)
    f0 = 110 + 60 * rng.random()

    def signal(t: np.ndarray) -> np.ndarray:
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
        voice = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        return (0.25 * envelope * voice)[:, None]

    write_wav_chunks(path, 24000, 1, seconds, signal)
    words, t, i = [], 0.0, seed
    while t < seconds - 0.4:
        word = WORDS[i % len(WORDS)]
        length = 0.18 + 0.05 * len(word) ** 0.5
        words.append(WordTiming(word=word, start_s=round(t, 3), end_s=round(t + length, 3)))
        t += length + 0.08
        i += 1
    return words


def music_track(path: Path, seconds: float) -> None:
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6)]

    def signal(t: np.ndarray) -> np.ndarray:
        chord = chords[int(t[0] // 4) % len(chords)]
        mono = sum(np.sin(2 * np.pi * f * t) for f in chord) * 0.15
        return np.stack([mono, mono], -1)

    write_wav_chunks(path, 44100, 2, seconds, signal)


# -- measurement -------------------------------------------------------------------------------


def _children_of(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    kids = [int(k) for k in handle.read().split()]
            except OSError:
                continue
            found += kids
            frontier += kids
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemorySampler:
    """Samples the summed RSS of this process and all its descendants every `interval` s."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            total = _rss_kib(me) + sum(_rss_kib(p) for p in _children_of(me))
            self.peak_kib = max(self.peak_kib, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def machine_busy(seconds: float = 1.0) -> float:
    """Share of all CPUs busy (anyone's work) over `seconds`, from /proc/stat."""

    def snap() -> tuple[int, int]:
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        return sum(values), values[3] + values[4]

    total0, idle0 = snap()
    time.sleep(seconds)
    total1, idle1 = snap()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- one movie (runs in a child process) -------------------------------------------------------


def bare_encode(
    renderer: FfmpegRenderer, stills: list[Path], frames: int, out: Path, in_memory: bool
) -> None:
    """The same stills for the same number of frames, same encoder settings; no motion,
    captions or transitions. in_memory=False is the idiomatic `-loop 1 -i still.png`;
    in_memory=True decodes each still once and repeats it with the loop filter."""
    per = [
        frames // len(stills) + (1 if i < frames % len(stills) else 0) for i in range(len(stills))
    ]
    args, parts = [], []
    for i, (still, n) in enumerate(zip(stills, per, strict=True)):
        if in_memory:
            args += ["-framerate", str(FPS), "-i", str(still)]
            parts.append(
                f"[{i}:v]format=yuv420p,loop=loop={n - 1}:size=1,settb=1/{FPS},setpts=N[v{i}]"
            )
        else:
            args += ["-loop", "1", "-framerate", str(FPS), "-t", f"{n / FPS:.6f}", "-i", str(still)]
            parts.append(f"[{i}:v]format=yuv420p[v{i}]")
    graph = ";".join(parts) + ";" + "".join(f"[v{i}]" for i in range(len(stills)))
    graph += f"concat=n={len(stills)}:v=1:a=0[v]"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            *args,
            "-filter_complex",
            graph,
            "-map",
            "[v]",
            *renderer.video_codec_args(),
            "-threads",
            "0",
            "-frames:v",
            str(frames),
            "-r",
            str(FPS),
            str(out),
        ],
        check=True,
    )


def ssim_of(video: Path, reference: Path) -> dict:
    """ffmpeg's ssim filter over every frame of two videos of the same size: {Y, U, V, All}."""
    args = ["-i", str(video), "-i", str(reference), "-lavfi", "[0:v][1:v]ssim", "-f", "null", "-"]
    err = run_ffmpeg(args, what="SSIM against the reference")
    line = [x for x in err.splitlines() if "SSIM Y:" in x][-1]
    return {k: float(v) for k, v in re.findall(r"(Y|U|V|All):([\d.]+)", line)}


def run_movie(
    x264_params: str,
    seconds: int,
    width: int,
    height: int,
    jobs: int,
    workdir: Path,
    with_bare: bool,
    strategy: AssemblyStrategy,
    with_reference: bool = False,
) -> dict:
    renderer = FfmpegRenderer(x264_params=x264_params)
    segments = seconds // SEGMENT_SECONDS
    inputs = workdir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    stills, narration, cues = [], [], []
    for s in range(segments):
        pair = []
        for i in range(2):
            path = inputs / f"s{s:02d}i{i}.png"
            make_still(path, seed=s * 2 + i, width=width, height=height)
            pair.append(path)
        stills.append(pair)
        clip = inputs / f"s{s:02d}.wav"
        words = narration_clip(clip, seed=s, seconds=8.5)
        narration.append((clip, s * SEGMENT_SECONDS + SPEECH_LEAD_IN_S))
        cues.append(cues_from_words(words, offset_s=SPEECH_LEAD_IN_S))
    music = inputs / "music.wav"
    music_track(music, seconds)

    def render_with(picture, s: int, path: Path) -> Path:
        """Segment `s` through `picture` (this renderer or the reference one)."""
        picture.render_segment(
            stills[s],
            width=width,
            height=height,
            duration_s=SEGMENT_SECONDS,
            cues=cues[s],
            strategy=strategy,
            seed=7 + s,
            out_path=path,
        )
        return path

    out = workdir / "out"
    out.mkdir(exist_ok=True)
    busy_before = machine_busy(1.0)
    steps: list[dict] = []  # each render step with when it started and ended

    def step(name: str, work) -> object:
        t0 = time.perf_counter() - start
        result = work()
        steps.append({"step": name, "from_s": t0, "to_s": time.perf_counter() - start})
        return result

    cpu0 = children_cpu_s()
    start = time.perf_counter()
    soundtrack = out / "soundtrack.m4a"
    with TreeMemorySampler() as sampler:

        def render(s: int) -> Path:
            path = out / f"s{s:02d}.mp4"
            return step(f"segment {s}", lambda: render_with(renderer, s, path))

        def mix() -> None:
            step(
                "soundtrack",
                lambda: renderer.mix_soundtrack(
                    narration, music, duration_s=float(seconds), out_path=soundtrack
                ),
            )

        # The soundtrack needs no picture: it is mixed while the segments render, as the
        # segments of a movie render side by side (the build's two workers).
        t_seg = time.perf_counter()
        with ThreadPoolExecutor(max_workers=1) as side, ThreadPoolExecutor(jobs) as pool:
            mixed = side.submit(mix)
            videos = list(pool.map(render, range(segments)))
            mixed.result()
        seg_wall = time.perf_counter() - t_seg
        t_final = time.perf_counter()
        final = out / "movie.mp4"
        step("join", lambda: renderer.join(videos, soundtrack, out_path=final))
        final_wall = time.perf_counter() - t_final
    wall = time.perf_counter() - start
    render_cpu = children_cpu_s() - cpu0
    info = renderer.probe(final)
    result = {
        "seconds": seconds,
        "segments": segments,
        "jobs": jobs,
        "wall_s": wall,
        "segments_wall_s": seg_wall,
        "final_wall_s": final_wall,
        "render_cpu_s": render_cpu,
        "steps": steps,
        "busy_before": busy_before,
        "peak_tree_rss_mib": sampler.peak_kib / 1024,
        "self_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "final_duration_s": info["duration_s"],
        "final_video": f"{info['video_codec']} {info['width']}x{info['height']} @ {info['fps']}",
        "final_audio": f"{info['audio_codec']} {info['sample_rate']} Hz",
        "final_mib": final.stat().st_size / 2**20,
    }
    if with_bare:
        for key, in_memory in (("bare_loop1", False), ("bare_inmem", True)):
            cpu0 = children_cpu_s()
            t0 = time.perf_counter()

            def bare(s: int, key=key, in_memory=in_memory) -> None:
                bare_encode(
                    renderer,
                    stills[s],
                    SEGMENT_SECONDS * FPS,
                    out / f"bare_{key}_{s:02d}.mp4",
                    in_memory,
                )

            # as many at once as the movie's segments were rendered
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(bare, range(segments)))
            result[f"{key}_wall_s"] = time.perf_counter() - t0
            result[f"{key}_cpu_s"] = children_cpu_s() - cpu0
    if with_reference:
        # Today's output before issue 21: the previous renderer (one graph and one encode per
        # segment) with its encoder settings, joined with the same soundtrack.
        ReferencePicture = reference_picture_class()

        before = FfmpegRenderer(x264_params=REFERENCE_X264_PARAMS)
        cpu0 = children_cpu_s()
        t0 = time.perf_counter()

        def render_before(s: int) -> Path:
            return render_with(ReferencePicture(before), s, out / f"before_s{s:02d}.mp4")

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            before_videos = list(pool.map(render_before, range(segments)))
        result["before_segments_wall_s"] = time.perf_counter() - t0
        result["before_segments_cpu_s"] = children_cpu_s() - cpu0
        before_final = out / "before.mp4"
        before.join(before_videos, soundtrack, out_path=before_final)
        result["before_mib"] = before_final.stat().st_size / 2**20
        result["ssim"] = ssim_of(final, before_final)
    return result


# -- driver ------------------------------------------------------------------------------------


def run_child(args: argparse.Namespace, seconds: int, with_bare: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="render-bench-") as tmp:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--seconds",
            str(seconds),
            "--width",
            str(args.width),
            "--height",
            str(args.height),
            "--jobs",
            str(args.jobs),
            "--strategy",
            args.strategy,
            "--workdir",
            tmp,
            f"--x264-params={args.x264_params}",
        ]
        if with_bare:
            cmd.append("--bare")
        if with_bare and not args.no_reference:
            cmd.append("--reference")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit(f"benchmark child for {seconds} s failed")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="movie length (multiple of 10)")
    parser.add_argument(
        "--compare-seconds",
        type=int,
        default=300,
        help="longer movie for the memory ratio; 0 skips it",
    )
    parser.add_argument("--width", type=int, default=1080)
    parser.add_argument("--height", type=int, default=1920)
    parser.add_argument(
        "--jobs", type=int, default=2, help="segments rendered at once (the build's 2 workers)"
    )
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip rendering the movie with the previous renderer for the SSIM comparison",
    )
    parser.add_argument(
        "--strategy", default="crossfade", choices=[s.value for s in AssemblyStrategy]
    )
    parser.add_argument(
        "--x264-params",
        default=FfmpegRenderer().x264_params,
        help='FfmpegRenderer.x264_params ("" for the plain preset)',
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seconds % SEGMENT_SECONDS or args.seconds <= 0:
        parser.error(f"--seconds must be a positive multiple of {SEGMENT_SECONDS}")

    if args.child:
        result = run_movie(
            args.x264_params,
            args.seconds,
            args.width,
            args.height,
            args.jobs,
            Path(args.workdir),
            args.bare,
            AssemblyStrategy(args.strategy),
            args.reference,
        )
        print(json.dumps(result))
        return

    cores = os.cpu_count()
    print(
        f"machine: {cores} CPUs, ffmpeg {ffmpeg_exe().rsplit('-', 1)[-1]}, "
        f"{args.width}x{args.height} @ {FPS} fps, preset {FfmpegRenderer().preset}, "
        f"x264-params {args.x264_params or '(none)'}, strategy {args.strategy}, "
        f"{args.jobs} segment job(s) at once"
    )
    short = run_child(args, args.seconds, with_bare=True)
    s = short
    print(
        f"[{s['seconds']} s movie] CPU busy with other work before start: "
        f"{s['busy_before'] * 100:.0f}%"
    )
    print(
        f"[{s['seconds']} s movie] wall time: {s['wall_s']:.1f} s "
        f"(segments {s['segments_wall_s']:.1f} s, final {s['final_wall_s']:.1f} s)"
    )
    speed = s["seconds"] / s["wall_s"]
    print(f"[{s['seconds']} s movie] speed: {speed:.2f}x real time (target >= 3x)")
    print(
        f"[{s['seconds']} s movie] ffmpeg CPU time: {s['render_cpu_s']:.1f} s "
        f"= {s['render_cpu_s'] / s['seconds']:.2f} CPU-s per movie second"
    )
    ideal = s["render_cpu_s"] / cores
    print(
        f"[{s['seconds']} s movie] makespan {s['wall_s']:.1f} s vs total step CPU / {cores} = "
        f"{ideal:.1f} s: {ideal / s['wall_s'] * 100:.0f}% of {cores} cores busy "
        f"(ideal {s['seconds'] / ideal:.2f}x real time)"
    )
    steps = sorted(s["steps"], key=lambda x: x["from_s"])
    print(
        f"[{s['seconds']} s movie] steps: "
        + ", ".join(f"{x['step']} {x['from_s']:.1f}-{x['to_s']:.1f}" for x in steps)
    )
    for key, label in (
        ("bare_loop1", "bare encode, -loop 1 still input"),
        ("bare_inmem", "bare encode, still decoded once + loop filter"),
    ):
        bare_speed = s["seconds"] / s[key + "_wall_s"]
        print(
            f"[{s['seconds']} s movie] {label} ({args.jobs} at once): "
            f"{s[key + '_wall_s']:.1f} s wall ({bare_speed:.2f}x real time), "
            f"{s[key + '_cpu_s']:.1f} CPU-s"
        )
        print(
            f"[{s['seconds']} s movie] movie {speed:.2f}x real time beside {label} "
            f"{bare_speed:.2f}x: ratio {s['wall_s'] / s[key + '_wall_s']:.2f} wall, "
            f"{s['render_cpu_s'] / s[key + '_cpu_s']:.2f} CPU"
        )
    if "ssim" in s:
        q = s["ssim"]
        print(
            f"[{s['seconds']} s movie] previous renderer on the same movie: segments "
            f"{s['before_segments_wall_s']:.1f} s wall, {s['before_segments_cpu_s']:.1f} CPU-s "
            f"(this one: {s['segments_wall_s']:.1f} s), {s['before_mib']:.1f} MiB "
            f"(this one: {s['final_mib']:.1f} MiB)"
        )
        print(
            f"[{s['seconds']} s movie] SSIM against the previous renderer's output: "
            f"All {q['All']:.4f} (Y {q['Y']:.4f} U {q['U']:.4f} V {q['V']:.4f}; target >= 0.98)"
        )
    print(
        f"[{s['seconds']} s movie] output: {s['final_video']}, {s['final_audio']}, "
        f"{s['final_duration_s']:.2f} s, {s['final_mib']:.1f} MiB"
    )
    print(
        f"[{s['seconds']} s movie] peak memory (python + ffmpeg tree, sampled): "
        f"{s['peak_tree_rss_mib']:.0f} MiB"
    )
    print(
        f"[{s['seconds']} s movie] max RSS: python {s['self_maxrss_mib']:.0f} MiB, "
        f"largest ffmpeg child {s['children_maxrss_mib']:.0f} MiB"
    )
    if args.compare_seconds:
        long = run_child(args, args.compare_seconds, with_bare=False)
        g = long
        print(
            f"[{g['seconds']} s movie] wall time: {g['wall_s']:.1f} s, speed "
            f"{g['seconds'] / g['wall_s']:.2f}x real time, CPU busy before start "
            f"{g['busy_before'] * 100:.0f}%"
        )
        print(
            f"[{g['seconds']} s movie] peak memory (python + ffmpeg tree, sampled): "
            f"{g['peak_tree_rss_mib']:.0f} MiB"
        )
        print(
            f"[{g['seconds']} s movie] max RSS: python {g['self_maxrss_mib']:.0f} MiB, "
            f"largest ffmpeg child {g['children_maxrss_mib']:.0f} MiB"
        )
        ratio = g["peak_tree_rss_mib"] / s["peak_tree_rss_mib"]
        rusage_ratio = (g["self_maxrss_mib"] + g["children_maxrss_mib"]) / (
            s["self_maxrss_mib"] + s["children_maxrss_mib"]
        )
        print(
            f"peak memory ratio {g['seconds']} s / {s['seconds']} s: {ratio:.2f} sampled, "
            f"{rusage_ratio:.2f} by max RSS (target <= 1.1)"
        )
    if not math.isclose(s["final_duration_s"], s["seconds"], abs_tol=0.05):
        print(f"WARNING: final duration {s['final_duration_s']} s != {s['seconds']} s")


if __name__ == "__main__":
    main()
