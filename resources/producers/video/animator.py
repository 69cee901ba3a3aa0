"""Video clips for segments: the interface, and the offline animator that is the default.

A producer makes one clip per segment, from the segment's video prompt alone (text-to-video) or
from its first image and the prompt (image-to-video). It picks its own resolution, frame count
and fps; the renderer fits the clip to the segment (cover-crop, slowed or trimmed to length).

`OfflineAnimator` needs no GPU, network or key. It animates the keyframe with motion that a pan or
zoom of one still cannot show: depth-layered parallax (near rows travel further than far ones),
a travelling ripple in the lower part of the frame, and drifting particles. It is procedural
animation, not a generative model, and says so in its metadata.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg
import numpy as np
from PIL import Image

from resources.domain.models import ImageStyle, ProducerCall
from resources.media.clipfile import write_clip
from resources.producers.images.generators import cover
from resources.producers.images.painter import paint


class VideoGenerator(dg.ConfigurableResource, ABC):
    """Writes an H.264 MP4 (video only) for one segment to out_path."""

    max_concurrency: int = 1
    fps: int = 24

    def generate_clip(
        self,
        prompt: str,
        *,
        image: Path | None,
        style: ImageStyle,
        width: int,
        height: int,
        duration_s: float,
        seed: int,
        out_path: Path,
    ) -> ProducerCall:
        """A clip for a width x height frame (the aspect to match; the size is the producer's
        choice). With `image` it starts from that picture; without, from the prompt alone."""
        frames, call = self.clip_frames(
            prompt, image, ImageStyle(style), width, height, duration_s=duration_s, seed=seed
        )
        write_clip(frames, fps=self.fps, out_path=out_path)
        return call

    @abstractmethod
    def clip_frames(
        self, prompt: str, image: Path | None, style: ImageStyle, width: int, height: int, *,
        duration_s: float, seed: int,
    ) -> tuple[Iterable[np.ndarray], ProducerCall]:
        """The clip's frames (RGB, even sizes; an iterator keeps memory flat) at self.fps, and
        the call that made them."""


def _even(value: float) -> int:
    return max(16, int(round(value / 2)) * 2)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def parallax_frames(
    keyframe: Image.Image,
    *,
    width: int,
    height: int,
    frames: int,
    seed: int,
    travel: float = 0.06,
    particles: int = 160,
) -> Iterator[np.ndarray]:
    """Frames of the keyframe animated with depth-layered parallax, a ripple and particles.

    Depth grows down the frame in three soft bands (sky far, middle, ground near); each row
    shifts sideways by its depth times the camera's travel, so rows move by different amounts:
    a shear no single pan or zoom produces. A sine ripple runs through the lowest band, and
    particles drift with their own velocities over everything."""
    rng = np.random.default_rng(seed)
    margin = max(2, round(width * travel))
    padded = np.asarray(cover(keyframe, width + 2 * margin, height))
    y = np.arange(height, dtype=np.float32) / max(height - 1, 1)
    bands = (_smoothstep((y - 0.22) / 0.1) + _smoothstep((y - 0.48) / 0.1)) / 2
    depth = 0.12 + 0.88 * bands
    ripple_mask = _smoothstep((y - 0.70) / 0.1)
    direction = 1 if rng.random() < 0.5 else -1
    wavelength = height * rng.uniform(0.05, 0.09)
    px = rng.uniform(0, width, particles)
    py = rng.uniform(0, height, particles)
    vx = rng.uniform(-0.6, 0.6, particles) * width / 540
    vy = rng.uniform(0.8, 2.4, particles) * height / 960 * (1 if rng.random() < 0.5 else -1)
    sway = rng.uniform(0, 2 * np.pi, particles)
    size = max(2, round(width / 200))
    rows = np.arange(height)
    # Every horizontal window of the padded keyframe, as a view: picking one per row is a
    # contiguous copy, ~50x faster than fancy indexing with a (height x width) index array.
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)
    for n in range(frames):
        progress = n / max(frames - 1, 1)
        eased = 0.5 - 0.5 * np.cos(np.pi * progress)  # the camera starts and stops gently
        shift = direction * margin * (2 * eased - 1) * depth
        shift = shift + ripple_mask * margin * 0.25 * np.sin(
            2 * np.pi * (np.arange(height) / wavelength - n / 24.0)
        )
        offsets = np.clip(np.round(margin + shift), 0, 2 * margin).astype(np.intp)
        frame = np.ascontiguousarray(windows[rows, offsets].transpose(0, 2, 1))
        xs = ((px + vx * n + 6 * np.sin(sway + n / 15)) % (width - size)).astype(np.intp)
        ys = ((py + vy * n) % (height - size)).astype(np.intp)
        for dy in range(size):
            for dx in range(size):
                spot = frame[ys + dy, xs + dx].astype(np.uint16)
                frame[ys + dy, xs + dx] = ((spot + 3 * 235) // 4).astype(np.uint8)
        yield frame


class OfflineAnimator(VideoGenerator):
    """Procedural clips from a keyframe: the segment's image, or artwork painted from the prompt.

    Deterministic for its inputs; `scale` sets the clip's size relative to the frame."""

    scale: float = 0.5
    fps: int = 30
    max_seconds: float = 10.0
    travel: float = 0.08  # how far the nearest layer travels, as a fraction of the width
    particles: int = 160

    def clip_frames(
        self, prompt: str, image: Path | None, style: ImageStyle, width: int, height: int, *,
        duration_s: float, seed: int,
    ) -> tuple[Iterable[np.ndarray], ProducerCall]:
        clip_w, clip_h = _even(width * self.scale), _even(height * self.scale)
        if image is not None:
            with Image.open(image) as opened:
                keyframe = opened.convert("RGB")
        else:
            keyframe = paint(prompt, style, clip_w, clip_h, seed)
        frames = parallax_frames(
            keyframe,
            width=clip_w,
            height=clip_h,
            frames=max(2, round(min(duration_s, self.max_seconds) * self.fps)),
            seed=seed,
            travel=self.travel,
            particles=self.particles,
        )
        mode = "image" if image is not None else "text"
        call = ProducerCall(
            provider="offline-animator", model=f"offline-parallax-1-{mode}", seed=seed
        )
        return frames, call
