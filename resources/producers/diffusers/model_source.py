"""Where a diffusers model comes from, checked without importing torch: a local folder, or a
Hugging Face id (from the cache only when HF_HUB_OFFLINE is set). A model that cannot be found
is refused at once with its id and the variable that sets it, never after a long wait."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from resources.domain.errors import ProviderError


class ModelNotFound(ProviderError):
    """The model is neither a local folder nor in the Hugging Face cache (or cannot load)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=404)  # the same request fails the same way: no retry


@dataclass(frozen=True)
class PipelineSpec:
    kind: str  # "text-to-image", "text-to-video", "image-to-video"
    model: str  # a local folder or a Hugging Face model id
    env_var: str  # the variable that sets the model, for error messages
    pipeline_class: str = ""  # a diffusers class name; "" = what the model's index names
    device: str = "auto"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def locate(spec: PipelineSpec) -> str:
    """The folder or hub id to load, refusing early what cannot load without a download."""
    path = Path(spec.model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").exists():
            raise ModelNotFound(
                f"{spec.kind} model folder {spec.model!r} has no model_index.json (not a "
                f"diffusers pipeline); set {spec.env_var} to a diffusers model folder or id"
            )
        return str(path)
    if spec.model.startswith(("/", ".", "~")) or spec.model.count("/") != 1:
        raise ModelNotFound(
            f"{spec.kind} model {spec.model!r} is not a folder here nor a Hugging Face id; "
            f"set {spec.env_var} to a diffusers model folder or an id such as owner/name"
        )
    if hub_offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(spec.model, "model_index.json"), str):
            raise ModelNotFound(
                f"{spec.kind} model {spec.model!r} is not in the Hugging Face cache and "
                f"HF_HUB_OFFLINE is set; download it first (`hf download {spec.model}`) or "
                f"set {spec.env_var} to a local folder"
            )
    return spec.model
