"""diffusers pipelines on the GPU side: loaded once per worker process, reused for every call.

Imported only by the Diffusers* producers when they run (never by the code location), so torch
and diffusers stay out of `movie_assets.definitions`. One pipeline per kind is kept per process:
a second model of the same kind replaces the first rather than doubling GPU memory. fp16 on
CUDA, fp32 on CPU. Weights come from a local folder or the Hugging Face cache; with
HF_HUB_OFFLINE=1 nothing is downloaded and a missing model fails at once, naming its variable.
"""

from __future__ import annotations

import inspect
import threading
import time

import numpy as np
import torch
from PIL import Image

from resources.producers.diffusers.model_source import (
    ModelNotFound,
    PipelineSpec,
    hub_offline,
    locate,
)

_LOCK = threading.Lock()
_LOADED: dict[str, tuple[PipelineSpec, object, float]] = {}
_LOADS: dict[str, int] = {}  # "kind:model" -> times loaded in this process (the warm-lease proof)


def device_for(requested: str) -> str:
    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def load(spec: PipelineSpec):
    """The pipeline for spec, loaded on first use in this process; returns (pipe, load_s)."""
    with _LOCK:
        held = _LOADED.get(spec.kind)
        if held is not None and held[0] == spec:
            return held[1], 0.0
        _LOADED.pop(spec.kind, None)  # free the previous model of this kind first
        import diffusers

        source = locate(spec)
        device = device_for(spec.device)
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        if spec.pipeline_class:
            cls = getattr(diffusers, spec.pipeline_class, None)
            if cls is None:
                raise ModelNotFound(f"diffusers has no pipeline class {spec.pipeline_class!r}")
        elif spec.kind == "text-to-image":
            cls = diffusers.AutoPipelineForText2Image
        else:
            cls = diffusers.DiffusionPipeline
        started = time.perf_counter()
        try:
            pipe = cls.from_pretrained(source, torch_dtype=dtype, local_files_only=hub_offline())
        except (OSError, ValueError) as error:
            raise ModelNotFound(
                f"{spec.kind} model {spec.model!r} could not be loaded ({error}); set "
                f"{spec.env_var} to a diffusers model folder or a Hugging Face id"
            ) from error
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        took = time.perf_counter() - started
        _LOADED[spec.kind] = (spec, pipe, took)
        name = f"{spec.kind}:{spec.model}"
        _LOADS[name] = _LOADS.get(name, 0) + 1
        return pipe, took


def _accepted(pipe, **kwargs) -> dict:
    """The arguments this pipeline's __call__ takes (video pipelines differ: SVD has no
    prompt, LTX takes frame_rate, Wan no image...)."""
    names = inspect.signature(pipe.__call__).parameters
    return {k: v for k, v in kwargs.items() if k in names and v is not None}


def _run(spec: PipelineSpec, **arguments):
    """The pipeline of spec called with those of `arguments` that it takes."""
    pipe, _ = load(spec)
    with torch.inference_mode():
        return pipe(**_accepted(pipe, **arguments))


def _generators(device: str, seeds: list[int]) -> list[torch.Generator]:
    # CPU generators give the same noise on every machine; the pipelines move it to the device.
    return [torch.Generator("cpu").manual_seed(seed) for seed in seeds]


def text_to_images(
    spec: PipelineSpec,
    prompts: list[str],
    *,
    width: int,
    height: int,
    seeds: list[int],
    steps: int,
    guidance: float,
) -> list[Image.Image]:
    """One batched pipeline call for several prompts."""
    result = _run(
        spec,
        prompt=prompts,
        width=width,
        height=height,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=_generators(device_for(spec.device), seeds),
        output_type="pil",
    )
    return list(result.images)


def _to_uint8_frames(frames) -> list[np.ndarray]:
    if isinstance(frames, torch.Tensor):
        frames = frames.float().cpu().numpy()
    out = []
    for frame in frames:
        if isinstance(frame, Image.Image):
            out.append(np.asarray(frame.convert("RGB")))
            continue
        array = np.asarray(frame)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
        out.append(array)
    return out


def video(
    spec: PipelineSpec,
    prompt: str,
    *,
    image: Image.Image | None,
    width: int,
    height: int,
    frames: int,
    fps: int,
    steps: int,
    guidance: float,
    seed: int,
) -> list[np.ndarray]:
    """One clip: uint8 RGB frames (width x height)."""
    result = _run(
        spec,
        prompt=prompt,
        image=image,
        width=width,
        height=height,
        num_frames=frames,
        frame_rate=fps,
        fps=fps,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=_generators(device_for(spec.device), [seed])[0],
        output_type="np",
    )
    return _to_uint8_frames(result.frames[0])


def load_counts() -> dict[str, int]:
    """How often each "kind:model" pipeline was loaded in this process."""
    with _LOCK:
        return dict(_LOADS)


def loaded_device() -> str | None:
    """Where the loaded pipelines run (None before the first load)."""
    with _LOCK:
        held = next(iter(_LOADED.values()), None)
    return device_for(held[0].device) if held else None


def loaded_seconds(kind: str) -> float | None:
    """How long the pipeline of `kind` took to load in this process (for the bench)."""
    held = _LOADED.get(kind)
    return held[2] if held else None
