"""Which producer implementation serves each role, chosen by environment, never inside assets.

Defaults: everything offline. With OPENAI_API_KEY set, the LLM, TTS and images use OpenAI. With
only OPENAI_BASE_URL set (a local Ollama or vLLM server), the LLM uses that server and the rest
stay offline. MOVIE_LLM / MOVIE_TTS / MOVIE_IMAGES = offline | openai override each role. The
offline producers before the neural voice and the illustrator stay available for comparison:
MOVIE_TTS=espeak, MOVIE_IMAGES=painter, MOVIE_LLM=template.

Timeouts and client retries are per provider: MOVIE_<ROLE>_TIMEOUT_S and MOVIE_<ROLE>_MAX_RETRIES
for llm, tts and images, and MOVIE_FFMPEG_TIMEOUT_S for each ffmpeg run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from movie_assets.video_producer_resources import diffusers_images, video_resources
from resources.media.renderer import FfmpegRenderer
from resources.producers.images.generators import OfflineArtist, OfflineIllustrator, OpenAIImages
from resources.producers.music.procedural import ProceduralMusic
from resources.producers.speech.text_to_speech import EspeakTTS, OfflineVoice, OpenAITTS
from resources.producers.text.fact_writer import FactWriter
from resources.producers.text.language_models import OfflineWriter, OpenAIChat
from resources.runtime.settings import production_mode
from resources.storage.store import ArtifactStore, LocalArtifactStore

CHOICES = ("offline", "openai")


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

    llm_choice = _choice(env, "llm", llm_default, (*CHOICES, "template"))
    tts_choice = _choice(env, "tts", remote_default, (*CHOICES, "espeak"))
    images_choice = _choice(env, "images", remote_default, (*CHOICES, "diffusers", "painter"))
    auth = _openai_auth(env) if "openai" in (llm_choice, tts_choice, images_choice) else {}

    llm = (
        OpenAIChat(**auth, **limits(env, "llm"), model=env.get("MOVIE_LLM_MODEL", "gpt-4o-mini"))
        if llm_choice == "openai"
        else OfflineWriter()
        if llm_choice == "template"
        else FactWriter()
    )
    tts = (
        OpenAITTS(**auth, **limits(env, "tts"))
        if tts_choice == "openai"
        else EspeakTTS()
        if tts_choice == "espeak"
        else OfflineVoice()
    )
    images = (
        OpenAIImages(**auth, **limits(env, "images"))
        if images_choice == "openai"
        else diffusers_images(env)
        if images_choice == "diffusers"
        else OfflineArtist()
        if images_choice == "painter"
        else OfflineIllustrator()
    )
    ffmpeg_timeout = _number(env, "MOVIE_FFMPEG_TIMEOUT_S", DEFAULT_TIMEOUT_S["ffmpeg"])
    return {
        "llm": llm,
        "tts": tts,
        "images": images,
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
