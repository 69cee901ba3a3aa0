"""Which producers make clips and (optionally) stills on the diffusers path, chosen by environment.

MOVIE_VIDEO = offline (default: the procedural animator) | diffusers (MOVIE_T2V_MODEL,
MOVIE_I2V_MODEL; MOVIE_VIDEO_FRAMES, MOVIE_VIDEO_STEPS, MOVIE_VIDEO_LONG_SIDE).
MOVIE_IMAGES=diffusers uses MOVIE_IMAGE_MODEL for stills (MOVIE_IMAGE_STEPS, MOVIE_IMAGE_LONG_SIDE).
MOVIE_DEVICE (auto | cpu | cuda) picks where the pipelines run. Model ids are local folders or
Hugging Face ids; HF_HUB_OFFLINE=1 keeps them to the local cache.
"""

from __future__ import annotations

from collections.abc import Mapping

from resources.producers.diffusers.generators import (
    DiffusersImages,
    DiffusersImageToVideo,
    DiffusersTextToVideo,
)
from resources.producers.video.animator import OfflineAnimator

VIDEO_CHOICES = ("offline", "diffusers")


def _device(env: Mapping[str, str]) -> str:
    value = env.get("MOVIE_DEVICE", "auto").strip().lower() or "auto"
    if value not in ("auto", "cpu") and not value.startswith("cuda"):
        raise ValueError(f"MOVIE_DEVICE must be auto, cpu or cuda[:N], got {value!r}")
    return value


def _model(env: Mapping[str, str], name: str) -> dict:
    return {"model": env[name].strip()} if env.get(name, "").strip() else {}


def _whole(env: Mapping[str, str], prefix: str, fields: dict[str, str]) -> dict:
    """{field: int} for each MOVIE_<PREFIX>_<NAME> that is set; a clear error if not >= 1."""
    found = {}
    for name, field in fields.items():
        raw = env.get(f"{prefix}_{name}", "").strip()
        if not raw:
            continue
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{prefix}_{name} must be a whole number >= 1, got {raw!r}")
        found[field] = int(raw)
    return found


def diffusers_images(env: Mapping[str, str]) -> DiffusersImages:
    return DiffusersImages(
        device=_device(env),
        **_model(env, "MOVIE_IMAGE_MODEL"),
        **_whole(env, "MOVIE_IMAGE", {"STEPS": "steps", "LONG_SIDE": "long_side"}),
    )


def video_resources(env: Mapping[str, str]) -> dict[str, object]:
    choice = env.get("MOVIE_VIDEO", "offline").strip().lower() or "offline"
    if choice not in VIDEO_CHOICES:
        raise ValueError(f"MOVIE_VIDEO must be one of {', '.join(VIDEO_CHOICES)}, got {choice!r}")
    if choice == "offline":
        return {"text_to_video": OfflineAnimator(), "image_to_video": OfflineAnimator()}
    common = {
        "device": _device(env),
        **_whole(
            env, "MOVIE_VIDEO", {"FRAMES": "frames", "STEPS": "steps", "LONG_SIDE": "long_side"}
        ),
    }
    return {
        "text_to_video": DiffusersTextToVideo(**common, **_model(env, "MOVIE_T2V_MODEL")),
        "image_to_video": DiffusersImageToVideo(**common, **_model(env, "MOVIE_I2V_MODEL")),
    }
