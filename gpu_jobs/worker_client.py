"""The launcher's side of the worker protocol: every request signed with the lease's secret.

Providers serve self-signed certificates only, so TLS is not verified; authenticity comes from
the signature (gpu_jobs.signing), which the worker checks on every request.
"""

from __future__ import annotations

import json
from typing import Any

import requests
import urllib3

from gpu_jobs.signing import sign


class WorkerUnreachable(RuntimeError):
    """The worker did not answer (lease gone, provider down, network)."""


class WorkerRefused(RuntimeError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class WorkerClient:
    def __init__(self, url: str, secret: str, timeout_s: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self._secret = secret
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # never show the secret
        return f"WorkerClient({self.url!r})"

    def _call(self, method: str, path: str, payload: dict | None = None) -> Any:
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = sign(self._secret, method, path, body) | {"Content-Type": "application/json"}
        try:
            with _quiet_insecure_tls():
                response = requests.request(
                    method,
                    f"{self.url}{path}",
                    data=body,
                    headers=headers,
                    timeout=self.timeout_s,
                    verify=False,  # self-signed provider certs; the HMAC authenticates
                )
        except requests.RequestException as error:
            raise WorkerUnreachable(
                f"worker at {self.url} unreachable: {type(error).__name__}"
            ) from None
        if response.status_code >= 400:
            try:
                reason = response.json().get("error", response.reason)
            except ValueError:
                reason = response.reason
            raise WorkerRefused(
                f"worker refused {method} {path}: {response.status_code} {reason}",
                response.status_code,
            )
        return response.json()

    def start_run(self, run_id: str, execute_run_args: str, usd_per_hour: float) -> dict:
        return self._call(
            "POST",
            "/runs",
            {"run_id": run_id, "execute_run_args": execute_run_args, "usd_per_hour": usd_per_hour},
        )

    def run(self, run_id: str) -> dict:
        return self._call("GET", f"/runs/{run_id}")

    def terminate(self, run_id: str) -> dict:
        return self._call("POST", f"/runs/{run_id}/terminate", {})

    def health(self) -> dict:
        return self._call("GET", "/health")


class _quiet_insecure_tls:
    """Silence urllib3's unverified-TLS warning for these calls only."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)

    def __exit__(self, *exc) -> None:
        self._catch.__exit__(*exc)
