"""Which producer implementation serves each role, chosen by environment, never inside assets.

Defaults: everything offline. With OPENAI_API_KEY set, the LLM, TTS and images use OpenAI. With
only OPENAI_BASE_URL set (a local Ollama or vLLM server), the LLM uses that server and the rest
stay offline. MOVIE_LLM / MOVIE_TTS / MOVIE_IMAGES = offline | openai override each role. The
offline producers before the neural voice and the illustrator stay available for comparison:
MOVIE_TTS=espeak, MOVIE_IMAGES=painter, MOVIE_LLM=template.

Timeouts and client retries are per producer: MOVIE_<ROLE>_TIMEOUT_S and MOVIE_<ROLE>_MAX_RETRIES
for llm, tts and images, and MOVIE_FFMPEG_TIMEOUT_S for each ffmpeg run.

Which producers make clips and (optionally) stills on the diffusers path:

MOVIE_VIDEO = offline (default: the procedural animator) | diffusers (MOVIE_T2V_MODEL,
MOVIE_I2V_MODEL; MOVIE_VIDEO_FRAMES, MOVIE_VIDEO_STEPS, MOVIE_VIDEO_LONG_SIDE).
MOVIE_IMAGES=diffusers uses MOVIE_IMAGE_MODEL for stills (MOVIE_IMAGE_STEPS, MOVIE_IMAGE_LONG_SIDE).
MOVIE_DEVICE (auto | cpu | cuda) picks where the pipelines run. Model ids are local folders or
Hugging Face ids; HF_HUB_OFFLINE=1 keeps them to the local cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import dagster as dg

from resources.media.renderer import FfmpegRenderer
from resources.producers.diffusers.generators import (
    DiffusersImages,
    DiffusersImageToVideo,
    DiffusersTextToVideo,
)
from resources.producers.images.illustrator import OfflineIllustrator
from resources.producers.images.openai_images import OpenAIImages
from resources.producers.images.painter import OfflineArtist
from resources.producers.music.procedural import ProceduralMusic
from resources.producers.speech.text_to_speech import EspeakTTS, OfflineVoice, OpenAITTS
from resources.producers.text.fact_writer import FactWriter
from resources.producers.text.language_models import OfflineWriter, OpenAIChat
from resources.producers.video.animator import OfflineAnimator
from resources.runtime.settings import production_mode
from resources.storage.store import ArtifactStore, LocalArtifactStore

CHOICES = ("offline", "openai")
# The choices of MOVIE_LLM, MOVIE_TTS and MOVIE_IMAGES (the last ones keep older producers).
ROLES = {
    "llm": (*CHOICES, "template"),
    "tts": (*CHOICES, "espeak"),
    "images": (*CHOICES, "diffusers", "painter"),
}


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


def _choice(
    env: Mapping[str, str], role: str, default: str, choices: tuple[str, ...] = CHOICES
) -> str:
    value = env.get(f"MOVIE_{role.upper()}", default).strip().lower()
    if value not in choices:
        raise ValueError(f"MOVIE_{role.upper()} must be one of {', '.join(choices)}, got {value!r}")
    return value


# Defaults: a hung server costs at most timeout x (retries + 1) per call before the step retries.
DEFAULT_TIMEOUT_S = {"llm": 120.0, "tts": 120.0, "images": 180.0, "ffmpeg": 1800.0}
DEFAULT_MAX_RETRIES = 2


def _number(env: Mapping[str, str], name: str, default: float, *, whole: bool = False) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = -1
    if value < 0 or (not whole and value == 0):
        rule = "a whole number >= 0" if whole else "a number of seconds > 0"
        raise ValueError(f"{name} must be {rule}, got {raw!r}")
    return value


def limits(env: Mapping[str, str], role: str) -> dict:
    """timeout_s and max_retries of a role: MOVIE_<ROLE>_TIMEOUT_S, MOVIE_<ROLE>_MAX_RETRIES."""
    prefix = f"MOVIE_{role.upper()}"
    return {
        "timeout_s": _number(env, f"{prefix}_TIMEOUT_S", DEFAULT_TIMEOUT_S[role]),
        "max_retries": int(_number(env, f"{prefix}_MAX_RETRIES", DEFAULT_MAX_RETRIES, whole=True)),
    }


def _openai_auth(env: Mapping[str, str]) -> dict:
    # Local OpenAI-compatible servers accept any key; the real one comes from the environment.
    key = dg.EnvVar("OPENAI_API_KEY") if env.get("OPENAI_API_KEY") else "local-server-no-key"
    return {"api_key": key, "base_url": env.get("OPENAI_BASE_URL") or None}


def producer_resources(env: Mapping[str, str] | None = None) -> dict[str, object]:
    env = os.environ if env is None else env
    has_key = bool(env.get("OPENAI_API_KEY"))
    remote_default = "openai" if has_key else "offline"
    llm_default = "openai" if has_key or env.get("OPENAI_BASE_URL") else "offline"

    defaults = {"llm": llm_default, "tts": remote_default, "images": remote_default}
    chosen = {role: _choice(env, role, defaults[role], choices) for role, choices in ROLES.items()}
    auth = _openai_auth(env) if "openai" in chosen.values() else {}
    # What each choice makes; only the chosen one is built.
    makers: dict[str, dict[str, Callable[[], dg.ConfigurableResource]]] = {
        "llm": {
            "offline": FactWriter,
            "openai": lambda: OpenAIChat(
                **auth, **limits(env, "llm"), model=env.get("MOVIE_LLM_MODEL", "gpt-4o-mini")
            ),
            "template": OfflineWriter,
        },
        "tts": {
            "offline": OfflineVoice,
            "openai": lambda: OpenAITTS(**auth, **limits(env, "tts")),
            "espeak": EspeakTTS,
        },
        "images": {
            "offline": OfflineIllustrator,
            "openai": lambda: OpenAIImages(**auth, **limits(env, "images")),
            "diffusers": lambda: diffusers_images(env),
            "painter": OfflineArtist,
        },
    }
    made = {role: makers[role][choice]() for role, choice in chosen.items()}
    ffmpeg_timeout = _number(env, "MOVIE_FFMPEG_TIMEOUT_S", DEFAULT_TIMEOUT_S["ffmpeg"])
    return {
        **made,
        "music": ProceduralMusic(),
        "renderer": FfmpegRenderer(timeout_s=ffmpeg_timeout),
        "store": artifact_store(env),
        **video_resources(env),
    }


def artifact_store(env: Mapping[str, str]) -> ArtifactStore:
    """Local files by default; the S3 bucket in production mode (MOVIE_MODE=production)."""
    if production_mode(env):
        from resources.storage.s3 import s3_store_from_env  # boto3 loads only where it is used

        return s3_store_from_env(env)
    return LocalArtifactStore()


def describe(resources: Mapping[str, object]) -> str:
    return ", ".join(
        f"{role}={type(resources[role]).__name__}"
        for role in ("llm", "tts", "images", "music", "image_to_video")
    )
