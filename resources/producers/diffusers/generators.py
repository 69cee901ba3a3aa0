"""Open models through diffusers: still images, text-to-video and image-to-video clips.

These are the producers of the GPU path. The classes are light (settings only); torch,
diffusers and the pipelines live in resources.producers.diffusers.pipelines, imported when a call
runs, so the code
location never imports torch. Each worker process loads a pipeline once and reuses it; on an
Akash lease the run calls the lease's warm model server instead, which loads it once per lease.

Defaults: SDXL-Turbo for stills (1 step, no guidance: a real image in well under a second on
one GPU) and LTX-Video for clips (one model family does both text-to-video and image-to-video,
and it is the fastest open video model at useful quality: about real time for 5 s of 768x512
on an H100-class GPU, where Wan 2.1 and CogVideoX take minutes). Model ids are settings.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from resources.domain.models import ImageStyle, ProducerCall
from resources.producers.images.generators import ImageGenerator, cover, write_still
from resources.producers.video.animator import VideoGenerator


def _multiple(value: float, step: int) -> int:
    return max(step, int(round(value / step)) * step)


def generation_size(width: int, height: int, long_side: int, step: int) -> tuple[int, int]:
    """The frame's aspect at the model's resolution: long side `long_side`, multiples of step."""
    scale = long_side / max(width, height)
    return _multiple(width * scale, step), _multiple(height * scale, step)


def _pipelines():
    """Where the pipelines run: the lease's warm model server when the worker gave this run one
    (MOVIE_MODEL_SERVER_URL), else this process (resources.producers.diffusers.pipelines). Both
    take the same calls
    and give the same pictures for a seed; only the first keeps models loaded across runs."""
    from resources.producers.diffusers.lease_env import model_server_url

    url = model_server_url()
    if url:
        from resources.producers.diffusers.model_client import ModelServerClient

        return ModelServerClient(url)
    from resources.producers.diffusers import pipelines

    return pipelines


def _gpu_call(model: str, seed: int, seconds: float) -> ProducerCall:
    """The call with its GPU time and, on a lease, that time's share of the lease's price."""
    from resources.producers.diffusers.lease_env import gpu_cost_usd

    seconds = round(seconds, 3)  # the cost is of the seconds recorded, so the two agree
    return ProducerCall(
        provider="diffusers",
        model=model,
        seed=seed,
        gpu_seconds=seconds,
        estimated_cost_usd=gpu_cost_usd(seconds),
    )


class _DiffusersProducer:
    """Settings shared by the diffusers producers (mixed into ConfigurableResources)."""

    def spec(self):
        from resources.producers.diffusers.model_source import PipelineSpec

        return PipelineSpec(
            kind=self.kind,  # type: ignore[attr-defined]
            model=self.model,  # type: ignore[attr-defined]
            env_var=self.model_env_var,  # type: ignore[attr-defined]
            pipeline_class=self.pipeline_class,  # type: ignore[attr-defined]
            device=self.device,  # type: ignore[attr-defined]
        )


class DiffusersImages(_DiffusersProducer, ImageGenerator):
    """Stills from a text-to-image pipeline (AutoPipelineForText2Image)."""

    model: str = "stabilityai/sdxl-turbo"
    model_env_var: str = "MOVIE_IMAGE_MODEL"
    pipeline_class: str = ""
    device: str = "auto"
    steps: int = 1
    guidance: float = 0.0
    long_side: int = 1024  # generation resolution; the still is then scaled to the frame
    max_concurrency: int = 1
    kind: str = "text-to-image"

    def picture(
        self, prompt: str, style: ImageStyle, width: int, height: int, seed: int, *,
        room_for_text: bool,
    ) -> tuple[Image.Image, ProducerCall]:
        return self._pictures([prompt], style, width, height, [seed])[0]

    def generate_many(
        self,
        prompts: list[str],
        *,
        on_screen_texts: list[str],
        style: ImageStyle,
        width: int,
        height: int,
        seeds: list[int],
        out_paths: list[Path],
    ) -> list[ProducerCall]:
        """Several stills in one pipeline call (one batch)."""
        style = ImageStyle(style)
        made = self._pictures(prompts, style, width, height, seeds)
        for (image, _), prompt, text, out_path in zip(
            made, prompts, on_screen_texts, out_paths, strict=True
        ):
            write_still(image, text, style, prompt, out_path)
        return [call for _, call in made]

    def _pictures(
        self, prompts: list[str], style: ImageStyle, width: int, height: int, seeds: list[int]
    ) -> list[tuple[Image.Image, ProducerCall]]:
        from resources.producers.diffusers.model_source import locate

        locate(self.spec())  # a missing model fails here, before torch is imported
        gen_w, gen_h = generation_size(width, height, self.long_side, 8)
        started = time.perf_counter()
        images = _pipelines().text_to_images(
            self.spec(),
            [f"{p}, {style.value} style" for p in prompts],
            width=gen_w,
            height=gen_h,
            seeds=seeds,
            steps=self.steps,
            guidance=self.guidance,
        )
        share = (time.perf_counter() - started) / len(prompts)  # one batch: equal shares
        return [
            (cover(image, width, height), _gpu_call(self.model, seed, share))
            for image, seed in zip(images, seeds, strict=True)
        ]


class _DiffusersVideo(_DiffusersProducer, VideoGenerator):
    """Clips from an LTX-Video pipeline: from the prompt alone (kind "text-to-video") or from
    the segment's first image and the prompt ("image-to-video")."""

    device: str = "auto"
    pipeline_class: str = ""
    steps: int = 8
    guidance: float = 1.0
    long_side: int = 768
    frames: int = 121  # LTX wants 8k+1 frames
    fps: int = 24
    kind: str = ""
    model: str = "Lightricks/LTX-Video"
    model_env_var: str = ""

    def clip_frames(
        self, prompt: str, image: Path | None, style: ImageStyle, width: int, height: int, *,
        duration_s: float, seed: int,
    ) -> tuple[list[np.ndarray], ProducerCall]:
        from resources.producers.diffusers.model_source import locate

        if self.kind != "image-to-video":
            prompt, image = f"{prompt}, {style.value} style", None
        elif image is None:
            raise ValueError("image-to-video needs the segment's first image")
        locate(self.spec())  # a missing model fails here, before torch is imported
        gen_w, gen_h = generation_size(width, height, self.long_side, 32)
        start = None
        if image is not None:
            with Image.open(image) as opened:
                start = cover(opened, gen_w, gen_h)
        started = time.perf_counter()
        frames = _pipelines().video(
            self.spec(),
            prompt,
            image=start,
            width=gen_w,
            height=gen_h,
            frames=self.frames,
            fps=self.fps,
            steps=self.steps,
            guidance=self.guidance,
            seed=seed,
        )
        seconds = time.perf_counter() - started
        even = [f[: f.shape[0] // 2 * 2, : f.shape[1] // 2 * 2] for f in frames]
        return even, _gpu_call(self.model, seed, seconds)


class DiffusersTextToVideo(_DiffusersVideo):
    """Clips from the segment's video prompt alone."""

    model_env_var: str = "MOVIE_T2V_MODEL"
    pipeline_class: str = "LTXPipeline"
    kind: str = "text-to-video"


class DiffusersImageToVideo(_DiffusersVideo):
    """Clips that start from the segment's first image."""

    model_env_var: str = "MOVIE_I2V_MODEL"
    pipeline_class: str = "LTXImageToVideoPipeline"
    kind: str = "image-to-video"
