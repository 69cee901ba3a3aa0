"""The client of a GPU lease's warm model server (gpu_jobs/model_server.py) and its wire format.

A run on a lease sends its diffusers calls here instead of loading pipelines itself
(generators.py picks this when MOVIE_MODEL_SERVER_URL is set); the same calls, arguments and
results as resources.producers.diffusers.pipelines. The request models are shared with the server.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import time

import numpy as np
import requests
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from resources.domain.errors import ProviderError
from resources.producers.diffusers.model_source import ModelNotFound, PipelineSpec


class Spec(BaseModel):
    """resources.producers.diffusers.model_source.PipelineSpec on the wire."""

    kind: str = Field(min_length=1)
    model: str = Field(min_length=1)
    env_var: str = ""
    pipeline_class: str = ""
    device: str = "auto"

    @classmethod
    def of(cls, spec: PipelineSpec) -> Spec:
        return cls(**dataclasses.asdict(spec))

    def pipeline_spec(self) -> PipelineSpec:
        return PipelineSpec(**self.model_dump())


# A misspelt setting is an error, not silently dropped: the client passes its keywords on.
_STRICT = ConfigDict(extra="forbid")


class ImagesCall(BaseModel):
    model_config = _STRICT

    spec: Spec
    prompts: list[str] = Field(min_length=1, max_length=64)
    width: int = Field(ge=8, le=4096)
    height: int = Field(ge=8, le=4096)
    seeds: list[int]
    steps: int = Field(ge=1, le=500)
    guidance: float


class VideoCall(BaseModel):
    model_config = _STRICT

    spec: Spec
    prompt: str
    image_png_base64: str | None = None  # the start frame of image-to-video, lossless
    width: int = Field(ge=8, le=4096)
    height: int = Field(ge=8, le=4096)
    frames: int = Field(ge=1, le=1000)
    fps: int = Field(ge=1, le=120)
    steps: int = Field(ge=1, le=500)
    guidance: float
    seed: int


def _frames(body: bytes) -> np.ndarray:
    return np.load(io.BytesIO(body), allow_pickle=False)


class ModelServerClient:
    """What a run worker uses instead of resources.producers.diffusers.pipelines when it runs on a
    lease: the same
    two calls with the same arguments and results, answered by the lease's warm pipelines."""

    def __init__(self, url: str, timeout_s: float = 1800.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _post(self, path: str, call: BaseModel) -> np.ndarray:
        try:
            response = requests.post(
                f"{self.url}{path}", data=call.model_dump_json(), timeout=self.timeout_s
            )
        except requests.RequestException as error:
            raise ProviderError(f"model server unreachable: {type(error).__name__}") from None
        if response.status_code != 200:
            try:
                reason = response.json().get("error", response.reason)
            except ValueError:
                reason = response.reason
            if response.status_code == 404:
                raise ModelNotFound(reason)
            raise ProviderError(f"model server: {reason}", status=response.status_code)
        return _frames(response.content)

    def text_to_images(
        self, spec: PipelineSpec, prompts: list[str], **settings: object
    ) -> list[Image.Image]:
        """pipelines.text_to_images on the lease; `settings` are ImagesCall's fields."""
        call = ImagesCall(spec=Spec.of(spec), prompts=prompts, **settings)
        return [Image.fromarray(frame) for frame in self._post("/images", call)]

    def video(
        self, spec: PipelineSpec, prompt: str, *, image: Image.Image | None, **settings: object
    ) -> list[np.ndarray]:
        """pipelines.video on the lease; `settings` are VideoCall's fields."""
        start = None
        if image is not None:  # sent losslessly, as PNG
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            start = base64.b64encode(buffer.getvalue()).decode()
        call = VideoCall(spec=Spec.of(spec), prompt=prompt, image_png_base64=start, **settings)
        return list(self._post("/video", call))

    def stats(self) -> dict:
        return fetch_stats(self.url)


def fetch_stats(url: str) -> dict:
    return requests.get(f"{url.rstrip('/')}/stats", timeout=10).json()


def wait_ready(url: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fetch_stats(url)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
