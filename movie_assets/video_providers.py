"""Which producers make clips and (optionally) stills on the diffusers path, chosen by environment.

MOVIE_VIDEO = offline (default: the procedural animator) | diffusers (MOVIE_T2V_MODEL,
MOVIE_I2V_MODEL). MOVIE_IMAGES=diffusers uses MOVIE_IMAGE_MODEL for stills. MOVIE_DEVICE
(auto | cpu | cuda) picks where the pipelines run. Model ids are local folders or Hugging Face
ids; HF_HUB_OFFLINE=1 keeps them to the local cache.
"""

from __future__ import annotations

from collections.abc import Mapping

from resources.producers.diffusers import (
    DiffusersImages,
    DiffusersImageToVideo,
    DiffusersTextToVideo,
)
from resources.producers.video import OfflineAnimator

VIDEO_CHOICES = ("offline", "diffusers")


def _device(env: Mapping[str, str]) -> str:
    value = env.get("MOVIE_DEVICE", "auto").strip().lower() or "auto"
    if value not in ("auto", "cpu") and not value.startswith("cuda"):
        raise ValueError(f"MOVIE_DEVICE must be auto, cpu or cuda[:N], got {value!r}")
    return value


def _model(env: Mapping[str, str], name: str) -> dict:
    return {"model": env[name].strip()} if env.get(name, "").strip() else {}


def diffusers_images(env: Mapping[str, str]) -> DiffusersImages:
    return DiffusersImages(device=_device(env), **_model(env, "MOVIE_IMAGE_MODEL"))


def video_resources(env: Mapping[str, str]) -> dict[str, object]:
    choice = env.get("MOVIE_VIDEO", "offline").strip().lower() or "offline"
    if choice not in VIDEO_CHOICES:
        raise ValueError(f"MOVIE_VIDEO must be one of {', '.join(VIDEO_CHOICES)}, got {choice!r}")
    if choice == "offline":
        return {"text_to_video": OfflineAnimator(), "image_to_video": OfflineAnimator()}
    device = _device(env)
    return {
        "text_to_video": DiffusersTextToVideo(device=device, **_model(env, "MOVIE_T2V_MODEL")),
        "image_to_video": DiffusersImageToVideo(device=device, **_model(env, "MOVIE_I2V_MODEL")),
    }
