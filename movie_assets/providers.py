"""Which producer implementation serves each role, chosen by environment, never inside assets.

Defaults: everything offline. With OPENAI_API_KEY set, the LLM, TTS and images use OpenAI. With
only OPENAI_BASE_URL set (a local Ollama or vLLM server), the LLM uses that server and the rest
stay offline. MOVIE_LLM / MOVIE_TTS / MOVIE_IMAGES = offline | openai override each role.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from resources.images import OfflineArtist, OpenAIImages
from resources.llm import OfflineWriter, OpenAIChat
from resources.music import ProceduralMusic
from resources.render import FfmpegRenderer
from resources.store import LocalArtifactStore
from resources.tts import EspeakTTS, OpenAITTS

CHOICES = ("offline", "openai")


def _choice(env: Mapping[str, str], role: str, default: str) -> str:
    value = env.get(f"MOVIE_{role.upper()}", default).strip().lower()
    if value not in CHOICES:
        raise ValueError(f"MOVIE_{role.upper()} must be one of {', '.join(CHOICES)}, got {value!r}")
    return value


def _openai_auth(env: Mapping[str, str]) -> dict:
    # Local OpenAI-compatible servers accept any key; the real one comes from the environment.
    key = dg.EnvVar("OPENAI_API_KEY") if env.get("OPENAI_API_KEY") else "local-server-no-key"
    return {"api_key": key, "base_url": env.get("OPENAI_BASE_URL") or None}


def provider_resources(env: Mapping[str, str] | None = None) -> dict[str, object]:
    env = os.environ if env is None else env
    has_key = bool(env.get("OPENAI_API_KEY"))
    remote_default = "openai" if has_key else "offline"
    llm_default = "openai" if has_key or env.get("OPENAI_BASE_URL") else "offline"

    llm_choice = _choice(env, "llm", llm_default)
    tts_choice = _choice(env, "tts", remote_default)
    images_choice = _choice(env, "images", remote_default)
    auth = _openai_auth(env) if "openai" in (llm_choice, tts_choice, images_choice) else {}

    llm = (
        OpenAIChat(**auth, model=env.get("MOVIE_LLM_MODEL", "gpt-4o-mini"))
        if llm_choice == "openai"
        else OfflineWriter()
    )
    tts = OpenAITTS(**auth) if tts_choice == "openai" else EspeakTTS()
    images = OpenAIImages(**auth) if images_choice == "openai" else OfflineArtist()
    return {
        "llm": llm,
        "tts": tts,
        "images": images,
        "music": ProceduralMusic(),
        "renderer": FfmpegRenderer(),
        "store": LocalArtifactStore(),
    }


def describe(resources: Mapping[str, object]) -> str:
    return ", ".join(
        f"{role}={type(resources[role]).__name__}" for role in ("llm", "tts", "images", "music")
    )
