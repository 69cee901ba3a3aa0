"""Request signing between the launcher and the worker on a lease.

Akash providers serve only self-signed TLS, so the worker authenticates each request itself:
an HMAC-SHA256 with the lease's own secret over method, path (with query), timestamp, nonce and
the body's hash. A request older than the allowed skew, or whose nonce was already seen inside
that window, is refused, so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

TIMESTAMP_HEADER = "X-Movie-Timestamp"
NONCE_HEADER = "X-Movie-Nonce"
SIGNATURE_HEADER = "X-Movie-Signature"
MAX_SKEW_S = 120.0


class SignatureError(Exception):
    """Why a request was refused; safe to send back (it names no secret)."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _message(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    body_hash = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), path, timestamp, nonce, body_hash)).encode()


def sign(
    secret: str, method: str, path: str, body: bytes = b"", at: float | None = None
) -> dict[str, str]:
    """Headers that authenticate one request; `path` includes the query string, if any."""
    timestamp = f"{time.time() if at is None else at:.3f}"
    nonce = secrets.token_hex(16)
    digest = hmac.new(
        secret.encode(), _message(method, path, timestamp, nonce, body), hashlib.sha256
    ).hexdigest()
    return {TIMESTAMP_HEADER: timestamp, NONCE_HEADER: nonce, SIGNATURE_HEADER: digest}


class Verifier:
    """Checks signatures, freshness and single use of nonces (thread-safe)."""

    def __init__(self, secret: str, max_skew_s: float = MAX_SKEW_S) -> None:
        if len(secret) < 16:
            raise ValueError("worker secret: must be at least 16 characters")
        self._secret = secret.encode()
        self.max_skew_s = max_skew_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, method: str, path: str, headers, body: bytes) -> None:
        timestamp = headers.get(TIMESTAMP_HEADER) or ""
        nonce = headers.get(NONCE_HEADER) or ""
        signature = headers.get(SIGNATURE_HEADER) or ""
        if not (timestamp and nonce and signature):
            raise SignatureError("unsigned request")
        expected = hmac.new(
            self._secret, _message(method, path, timestamp, nonce, body), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise SignatureError("bad signature")
        try:
            sent = float(timestamp)
        except ValueError:
            raise SignatureError("bad timestamp") from None
        now = time.time()
        if abs(now - sent) > self.max_skew_s:
            raise SignatureError("expired request")
        with self._lock:
            # Nonces older than the window can go: their timestamps fail the check above.
            self._seen = {n: t for n, t in self._seen.items() if now - t <= self.max_skew_s}
            if nonce in self._seen:
                raise SignatureError("replayed request")
            self._seen[nonce] = sent
