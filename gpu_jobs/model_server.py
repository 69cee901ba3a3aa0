"""The warm model server inside a GPU lease: diffusers pipelines loaded once, used by every run.

A run worker is a fresh process per run; loading a pipeline costs far more than a step on a
GPU. The lease's worker keeps this one process alive instead, and run workers call it over
loopback (MOVIE_MODEL_SERVER_URL), so only the first run on a lease pays the load. It runs the
same code as an in-process call (resources.producers.diffusers.pipelines), so a seed gives the same
picture either
way.

    GET  /stats   {"loads": {"kind:model": count}, "calls": n, "device": "cuda"|"cpu"|null}
    POST /images  ImagesCall -> .npy of uint8 (n, height, width, 3)
    POST /video   VideoCall  -> .npy of uint8 (frames, height, width, 3)

Frames travel as raw arrays (lossless, no codec). A model that cannot be found answers 404
with its message, any other failure 500. torch and diffusers are imported here only when the
server runs, never by the code location or the clients. Run:
python -m gpu_jobs.model_server --port 0 --announce
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

from resources.producers.diffusers.model_client import ImagesCall, VideoCall
from resources.producers.diffusers.model_source import ModelNotFound


def _npy(frames: list[np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.stack(frames).astype(np.uint8), allow_pickle=False)
    return buffer.getvalue()


class WarmPipelines:
    """Runs calls through resources.producers.diffusers.pipelines, which loads each pipeline once
    per process."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()  # one generation at a time: one GPU

    def images(self, call: ImagesCall) -> bytes:
        from resources.producers.diffusers import pipelines

        with self._lock:
            self.calls += 1
            images = pipelines.text_to_images(
                call.spec.pipeline_spec(),
                call.prompts,
                width=call.width,
                height=call.height,
                seeds=call.seeds,
                steps=call.steps,
                guidance=call.guidance,
            )
        return _npy([np.asarray(image.convert("RGB")) for image in images])

    def video(self, call: VideoCall) -> bytes:
        from resources.producers.diffusers import pipelines

        start = None
        if call.image_png_base64 is not None:
            start = Image.open(io.BytesIO(base64.b64decode(call.image_png_base64))).convert("RGB")
        with self._lock:
            self.calls += 1
            frames = pipelines.video(
                call.spec.pipeline_spec(),
                call.prompt,
                image=start,
                width=call.width,
                height=call.height,
                frames=call.frames,
                fps=call.fps,
                steps=call.steps,
                guidance=call.guidance,
                seed=call.seed,
            )
        return _npy(frames)

    def stats(self) -> dict:
        loads, device = {}, None
        # nothing loaded yet: do not import torch
        if "resources.producers.diffusers.pipelines" in sys.modules:
            from resources.producers.diffusers import pipelines

            loads, device = pipelines.load_counts(), pipelines.loaded_device()
        return {"loads": loads, "calls": self.calls, "device": device}


def make_handler(warm: WarmPipelines) -> type[BaseHTTPRequestHandler]:
    routes = {"/images": (ImagesCall, warm.images), "/video": (VideoCall, warm.video)}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"error": message}).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._send(200, json.dumps(warm.stats()).encode(), "application/json")
            else:
                self._error(404, "no such route")

        def do_POST(self) -> None:
            if self.path not in routes:
                self._error(404, "no such route")
                return
            model, run = routes[self.path]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                frames = run(model.model_validate_json(body))
            except ModelNotFound as error:
                self._error(404, str(error))  # the same request fails the same way: no retry
            except ValueError as error:  # includes pydantic's ValidationError
                self._error(400, f"{type(error).__name__}: {error}")
            except Exception as error:  # the run worker gets the reason; the server lives on
                self._error(500, f"{type(error).__name__}: {error}")
            else:
                self._send(200, frames, "application/x-npy")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--announce", action="store_true", help="Print the URL once bound.")
    options = parser.parse_args()
    # Loopback only: the run workers on this lease are its only clients.
    server = ThreadingHTTPServer(("127.0.0.1", options.port), make_handler(WarmPipelines()))
    if options.announce:
        print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
