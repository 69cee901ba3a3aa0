"""The warm model server inside a GPU lease: diffusers pipelines loaded once, used by every run.

A run worker is a fresh process per run; loading a pipeline costs far more than a step on a
GPU. The lease's worker keeps this one process alive instead, and run workers call it over
loopback (MOVIE_MODEL_SERVER_URL), so only the first run on a lease pays the load.

    GET  /stats   {"loads": {model: count}, "calls": n, "device": "cuda"|"cpu"|null}
    POST /images  {model, prompt, negative_prompt, seed, width, height, steps} -> image/png

`model` is a diffusers pipeline folder (on the lease's persistent weights volume) or a hub id
already in the cache there. torch and diffusers are imported here only, never by the code
location. Run: python -m gpu_jobs.model_server --port 0 --announce
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from pydantic import BaseModel, Field


class ImageRequest(BaseModel):
    model: str = Field(min_length=1)
    prompt: str
    negative_prompt: str | None = None
    seed: int = 0
    width: int = Field(default=512, ge=16, le=2048)
    height: int = Field(default=512, ge=16, le=2048)
    steps: int = Field(default=20, ge=1, le=200)


class Pipelines:
    """Loaded pipelines by model; a model is loaded at most once per process."""

    def __init__(self) -> None:
        self.loads: dict[str, int] = {}
        self.calls = 0
        self._pipelines: dict[str, Any] = {}
        self._lock = threading.Lock()  # one generation at a time: one GPU
        self.device: str | None = None  # known once torch is imported, at the first load

    def get(self, model: str) -> Any:
        if model not in self._pipelines:
            import torch
            from diffusers import DiffusionPipeline

            self.device = "cuda" if torch.cuda.is_available() else "cpu"
            pipeline = DiffusionPipeline.from_pretrained(model)
            pipeline.set_progress_bar_config(disable=True)
            self._pipelines[model] = pipeline.to(self.device)
            self.loads[model] = self.loads.get(model, 0) + 1
        return self._pipelines[model]

    def image_png(self, request: ImageRequest) -> bytes:
        import torch

        with self._lock:
            pipeline = self.get(request.model)
            self.calls += 1
            generator = torch.Generator(device="cpu").manual_seed(request.seed)
            image = pipeline(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                width=request.width,
                height=request.height,
                num_inference_steps=request.steps,
                generator=generator,
                output_type="pil",
            ).images[0]
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    def stats(self) -> dict:
        return {"loads": dict(self.loads), "calls": self.calls, "device": self.device}


def make_handler(pipelines: Pipelines) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._send(200, json.dumps(pipelines.stats()).encode(), "application/json")
            else:
                self._send(404, b'{"error": "no such route"}', "application/json")

        def do_POST(self) -> None:
            if self.path != "/images":
                self._send(404, b'{"error": "no such route"}', "application/json")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                request = ImageRequest.model_validate_json(body)
                png = pipelines.image_png(request)
            except Exception as error:  # the run worker gets the reason; the server lives on
                message = json.dumps({"error": f"{type(error).__name__}: {error}"})
                self._send(
                    400 if isinstance(error, ValueError) else 500,
                    message.encode(),
                    "application/json",
                )
                return
            self._send(200, png, "image/png")

    return Handler


class ModelServerClient:
    """What a run worker uses to reach the lease's model server."""

    def __init__(self, url: str, timeout_s: float = 600.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def image_png(self, request: ImageRequest) -> bytes:
        response = requests.post(
            f"{self.url}/images", data=request.model_dump_json(), timeout=self.timeout_s
        )
        if response.status_code != 200:
            raise RuntimeError(f"model server: {response.json().get('error', response.reason)}")
        return response.content

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--announce", action="store_true", help="Print the URL once bound.")
    options = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", options.port), make_handler(Pipelines()))
    if options.announce:
        print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
