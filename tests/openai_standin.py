"""A local HTTP stand-in for the OpenAI API, speaking its wire format on loopback.

It serves the three endpoints the producers call (chat completions, audio speech, image
generations), records every request, and can be told to fail. It is a test double for the
remote service only; the clients under test are the real `openai` package clients.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

ChatReply = Callable[[list[dict]], str]


def _speech_like_wav(text: str, rate: int = 24_000) -> bytes:
    """One tone burst per word with short gaps, so timing estimators have real onsets."""
    chunks = [np.zeros(int(0.15 * rate))]
    for word in text.split():
        length = int((0.08 + 0.05 * len(word)) * rate)
        t = np.arange(length) / rate
        burst = 0.4 * np.sin(2 * np.pi * 220 * t) * np.hanning(length)
        chunks += [burst, np.zeros(int(0.06 * rate))]
    samples = (np.concatenate(chunks) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buf.getvalue()


def _png(size: str) -> str:
    width, height = (int(v) for v in size.split("x"))
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def movie_chat_reply(messages: list[dict]) -> str:
    """Valid answers for each of the LLM producers' prompts, told apart by their system text."""
    system = messages[0]["content"]
    if "narration for short educational videos" in system:
        count = int(system.split("Write exactly ")[1].split()[0])
        segments = [
            {"narration": f"Part {i} of the story of fire.", "on_screen_text": f"P{i}"}
            for i in range(count)
        ]
        script = {"title": "Volcanoes", "summary": "Fire mountains.", "segments": segments}
        return json.dumps(script)
    if "image model" in system:
        count = int(system.split("with exactly ")[1].split()[0])
        return json.dumps({"prompts": [f"a crater at dawn, shot {i}" for i in range(count)]})
    if "background-music" in system:
        return json.dumps({"prompt": "slow ambient drones"})
    if "video model" in system:
        return json.dumps({"prompt": "lava flows slowly toward the sea at dusk"})
    return json.dumps(
        {
            "topic": "volcanoes",
            "facts": [{"text": "Hot.", "source_index": 0}],
            "sources": [{"title": "Atlas", "uri": "https://example.org"}],
        }
    )


CHAOS_MODES = ("500", "truncate", "429", "stall", "503")


@dataclass
class Chaos:
    """Fail `rate` of the requests, evenly spread, the ways real servers do, in turn: 500, a
    body cut short of its Content-Length, 429 with Retry-After, a stall past the client's
    timeout, 503. Deterministic, so a test meets every kind whatever the timing."""

    rate: float = 0.3
    stall_s: float = 3.0
    retry_after_s: int = 1
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._failures = 0

    def pick(self) -> str | None:
        with self._lock:
            self._requests += 1
            if int(self._requests * self.rate) == self._failures:
                return None
            mode = CHAOS_MODES[self._failures % len(CHAOS_MODES)]
            self._failures += 1
            self.injected[mode] = self.injected.get(mode, 0) + 1
            return mode


class OpenAIStandIn:
    def __init__(self, chat_reply: ChatReply | None = None) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.chat_reply: ChatReply = chat_reply or (lambda messages: "{}")
        # Set to (status, message) to make the next requests fail like the real API does;
        # or set fail_when to decide per request (path, body) -> (status, message) | None.
        self.fail_with: tuple[int, str] | None = None
        self.fail_when: Callable[[str, dict], tuple[int, str] | None] | None = None
        # Answer every request 401 with the key it presented echoed back, as some proxies and
        # OpenAI-compatible servers do (the real API masks all but the last four characters).
        self.echo_key_401 = False
        self.chaos: Chaos | None = None
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "stand-in not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]

    def __enter__(self) -> OpenAIStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                standin.requests.append(
                    (self.path, body, {k.lower(): v for k, v in self.headers.items()})
                )
                failure = standin.fail_with or (
                    standin.fail_when(self.path, body) if standin.fail_when else None
                )
                if standin.echo_key_401:
                    key = self.headers.get("authorization", "").removeprefix("Bearer ")
                    failure = (401, f"Incorrect API key provided: {key}. Check your key.")
                if failure:
                    status, message = failure
                    error = {"error": {"message": message, "type": "invalid_request_error"}}
                    return self._send(status, json.dumps(error).encode(), "application/json")
                self._chaos = standin.chaos.pick() if standin.chaos else None
                if self._chaos in ("500", "503", "429"):
                    error = json.dumps({"error": {"message": "injected", "type": "server_error"}})
                    return self._send(int(self._chaos), error.encode(), "application/json")
                if self._chaos == "stall":
                    time.sleep(standin.chaos.stall_s)  # the client has given up by now
                if self.path.endswith("/chat/completions"):
                    return self._chat(body)
                if self.path.endswith("/audio/speech"):
                    return self._send(200, _speech_like_wav(body.get("input", "")), "audio/wav")
                if self.path.endswith("/images/generations"):
                    data = [{"b64_json": _png(body.get("size", "1024x1024"))}]
                    payload = {"created": int(time.time()), "data": data}
                    return self._send(200, json.dumps(payload).encode(), "application/json")
                self._send(404, b'{"error": {"message": "unknown path"}}', "application/json")

            def _chat(self, body: dict) -> None:
                content = standin.chat_reply(body.get("messages", []))
                payload = {
                    "id": "chatcmpl-standin",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "unknown"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 300},
                }
                self._send(200, json.dumps(payload).encode(), "application/json")

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                chaos = getattr(self, "_chaos", None)
                try:
                    self.send_response(status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(data)))
                    if status == 429 and standin.chaos:
                        self.send_header("retry-after", str(standin.chaos.retry_after_s))
                    self.end_headers()
                    if chaos == "truncate":
                        self.wfile.write(data[: len(data) // 2])
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (a stall): nothing to answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
