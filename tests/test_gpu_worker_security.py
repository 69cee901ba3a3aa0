"""The worker on a lease refuses every request not signed with the lease's secret.

The worker runs as a real process on loopback; requests are sent over real HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from gpu_jobs.signing import sign
from gpu_jobs.worker_client import WorkerClient, WorkerRefused
from tests.akash_standin import announced_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "lease-secret-" + "x" * 30


def _start_worker(tmp_path: Path, secret: str | None) -> tuple[subprocess.Popen, Path]:
    env = {k: v for k, v in os.environ.items() if k != "MOVIE_WORKER_SECRET"}
    env["MOVIE_HOME"] = str(tmp_path)
    if secret is not None:
        env["MOVIE_WORKER_SECRET"] = secret
    log = tmp_path / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gpu_jobs.worker", "--port", "0", "--no-model-server"],
        env=env,
        cwd=ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    return process, log


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("worker")
    process, log = _start_worker(tmp_path, SECRET)
    deadline = time.monotonic() + 30
    while (port := announced_port(log)) is None:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "worker did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    assert requests.get(f"{url}/healthz", timeout=5).ok
    yield url, log, process
    process.terminate()
    process.wait(10)


def _send(url: str, method: str, path: str, headers: dict, body: bytes = b"") -> requests.Response:
    return requests.request(method, f"{url}{path}", headers=headers, data=body, timeout=10)


def test_signed_request_is_served(worker):
    url, *_ = worker
    health = WorkerClient(url, SECRET).health()
    assert health["runs"] == [] and health["uptime_s"] >= 0


def test_liveness_probe_reveals_nothing(worker):
    url, *_ = worker
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"ok": True}


def test_unsigned_request_is_refused(worker):
    url, *_ = worker
    answer = _send(url, "GET", "/health", {})
    assert answer.status_code == 401 and answer.json() == {"error": "unsigned request"}


def test_wrong_secret_is_refused(worker):
    url, *_ = worker
    with pytest.raises(WorkerRefused) as refused:
        WorkerClient(url, "another-lease-secret-" + "y" * 20).health()
    assert refused.value.status == 401 and "bad signature" in str(refused.value)


def test_tampered_body_or_path_is_refused(worker):
    url, *_ = worker
    body = json.dumps({"run_id": "r1", "execute_run_args": "{}"}).encode()
    headers = sign(SECRET, "POST", "/runs", body)
    tampered = body.replace(b"r1", b"r2")
    assert _send(url, "POST", "/runs", headers, tampered).json() == {"error": "bad signature"}
    headers = sign(SECRET, "GET", "/runs/a")
    assert _send(url, "GET", "/runs/b", headers).json() == {"error": "bad signature"}
    headers = sign(SECRET, "GET", "/health")
    assert _send(url, "POST", "/health", headers).json() == {"error": "bad signature"}


def test_replayed_request_is_refused(worker):
    url, *_ = worker
    headers = sign(SECRET, "GET", "/health")
    assert _send(url, "GET", "/health", headers).status_code == 200
    again = _send(url, "GET", "/health", headers)
    assert again.status_code == 401 and again.json() == {"error": "replayed request"}


def test_expired_and_future_requests_are_refused(worker):
    url, *_ = worker
    for skew in (-600, +600):
        headers = sign(SECRET, "GET", "/health", at=time.time() + skew)
        answer = _send(url, "GET", "/health", headers)
        assert answer.status_code == 401 and answer.json() == {"error": "expired request"}


def test_bad_run_request_names_the_problem_and_failed_run_is_reported(worker):
    url, *_ = worker
    client = WorkerClient(url, SECRET)
    with pytest.raises(WorkerRefused) as refused:
        client._call("POST", "/runs", {"run_id": "r-1"})
    assert refused.value.status == 400 and "execute_run_args" in str(refused.value)
    # Arguments that are not a serialized ExecuteRunArgs: the run process starts and fails.
    started = client.start_run("r-bad", "not serialized args", usd_per_hour=1.2)
    # Accepted and started. A run forked from the warm forker can fail within milliseconds,
    # so by the time the answer is written it may already have exited (CI saw both).
    assert started["run_id"] == "r-bad" and started["state"] in ("running", "exited")
    deadline = time.monotonic() + 60
    while (state := client.run("r-bad"))["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["returncode"] != 0 and state["gpu_seconds"] > 0
    # The run was forked from the worker's warm run forker (Dagster imported once per lease),
    # not started as a fresh `python -m dagster api execute_run`.
    import psutil

    worker_process = psutil.Process(worker[2].pid)
    children = [" ".join(c.cmdline()) for c in worker_process.children()]
    assert any("-m gpu_jobs.run_forker" in line for line in children), children
    assert not any("execute_run" in line for line in children)


def test_secret_never_in_worker_log(worker):
    url, log, _ = worker
    WorkerClient(url, SECRET).health()
    text = log.read_text()
    assert "GET /health" in text
    assert SECRET not in text and "Signature" not in text


def test_worker_refuses_to_start_without_secret(tmp_path):
    process, log = _start_worker(tmp_path, None)
    assert process.wait(30) != 0
    assert "MOVIE_WORKER_SECRET is not set" in log.read_text()
