"""GPU benchmark: the configured diffusers models, on whatever device this machine has.

    python bench/gpu_bench.py                 # the models the environment configures
    python bench/gpu_bench.py --tiny          # tiny random-weight models: checks the script on CPU

Prints one figure per line: pipeline load time per model, warm images per second (one batched
call after a warm-up call) and its ratio to one-at-a-time calls in the same run, clip seconds
generated per wall second (1.0 = real time) for text-to-video and image-to-video, and peak GPU
memory (torch.cuda.max_memory_allocated; on CPU, peak RSS instead). Models come from
MOVIE_IMAGE_MODEL, MOVIE_T2V_MODEL, MOVIE_I2V_MODEL (defaults: SDXL-Turbo, LTX-Video), the
device from MOVIE_DEVICE (auto = cuda when present)."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from movie_assets.producer_resources import diffusers_images, video_resources  # noqa: E402


def _peak_memory(torch) -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (GPU)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (CPU RSS)"


def _clip_wall_s(producer, image: Path | None, seed: int, out_path: Path, size: dict) -> float:
    """Wall seconds of one 10 s clip from `producer` (image-to-video when `image` is given)."""
    started = time.perf_counter()
    producer.generate_clip(
        "a glacier carving a valley, slow aerial move",
        image=image,
        seed=seed,
        duration_s=10,
        out_path=out_path,
        **size,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="build and use tiny models")
    parser.add_argument("--batch", type=int, default=4, help="images per batched call")
    parser.add_argument("--width", type=int, default=1080)
    parser.add_argument("--height", type=int, default=1920)
    args = parser.parse_args()
    env = dict(os.environ)
    work = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    if args.tiny:
        from tests.tiny_pipelines import build_ltx_video, build_text_to_image

        env |= {
            "MOVIE_IMAGE_MODEL": str(build_text_to_image(work / "sd")),
            "MOVIE_T2V_MODEL": str(build_ltx_video(work / "ltx")),
            "MOVIE_IMAGE_LONG_SIDE": "64",
            "MOVIE_IMAGE_STEPS": "2",
            "MOVIE_VIDEO_FRAMES": "9",
            "MOVIE_VIDEO_STEPS": "2",
            "MOVIE_VIDEO_LONG_SIDE": "64",
        }
        env["MOVIE_I2V_MODEL"] = env["MOVIE_T2V_MODEL"]
    env["MOVIE_VIDEO"] = "diffusers"
    import torch

    from resources.producers.diffusers import pipelines

    device = pipelines.device_for(env.get("MOVIE_DEVICE", "auto"))
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(f"device: {device} ({name}); torch {torch.__version__}")

    images = diffusers_images(env)
    prompts = [f"a glacier carving a valley, shot {i}" for i in range(args.batch)]
    size = {"style": "documentary", "width": args.width, "height": args.height}
    started = time.perf_counter()
    images.generate(prompts[0], on_screen_text="", seed=0, out_path=work / "warm.png", **size)
    print(f"images model: {images.model}")
    print(
        f"  pipeline load + first image: {time.perf_counter() - started:.2f} s "
        f"(load {pipelines.loaded_seconds('text-to-image'):.2f} s)"
    )
    started = time.perf_counter()
    for i, prompt in enumerate(prompts):
        images.generate(prompt, on_screen_text="", seed=i, out_path=work / f"one{i}.png", **size)
    single = len(prompts) / (time.perf_counter() - started)
    started = time.perf_counter()
    images.generate_many(
        prompts,
        on_screen_texts=[""] * len(prompts),
        seeds=list(range(len(prompts))),
        out_paths=[work / f"batch{i}.png" for i in range(len(prompts))],
        **size,
    )
    batched = len(prompts) / (time.perf_counter() - started)
    print(
        f"  warm images per second: {batched:.2f} batched ({args.batch} per call), "
        f"{single:.2f} one at a time: ratio {batched / single:.2f}"
    )

    first_image = work / "warm.png"
    for role, kind, image in (
        ("text_to_video", "text-to-video", None),
        ("image_to_video", "image-to-video", first_image),
    ):
        producer = video_resources(env)[role]
        clip_s = producer.frames / producer.fps
        # the first clip loads the pipeline, the second runs warm
        cold = _clip_wall_s(producer, image, 1, work / f"{role}-cold.mp4", size)
        warm = _clip_wall_s(producer, image, 2, work / f"{role}.mp4", size)
        print(f"{kind} model: {producer.model}")
        print(f"  pipeline load: {pipelines.loaded_seconds(kind):.2f} s; first clip {cold:.2f} s")
        print(
            f"  clip seconds per wall second (warm): {clip_s / warm:.3f} "
            f"({producer.frames} frames at {producer.fps} fps in {warm:.2f} s)"
        )
    print(f"peak memory: {_peak_memory(torch)}")


if __name__ == "__main__":
    main()
