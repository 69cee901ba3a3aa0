"""A local stand-in for the Akash Console API: the same paths and JSON shapes, on loopback.

It is a test double for the remote service only (no chain, no providers): deployments, bids,
leases, deposits and closing follow the Console API source's shapes, and scripted scenarios
reproduce what users meet on the real network (bids only after some polls, no bids at all,
429/500 answers, lease status null while a provider is unreachable, a lease closed when the
escrow runs out, deployments without a lease closed after a while). When a lease is created
it starts the real worker (python -m gpu_jobs.worker) as a local process with the SDL's
environment, reports it in the lease status as a bare host name like a provider would, and
stops it when the deployment closes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
OWNER = "akash1standinowner0000000000000000000000000"


@dataclass
class Provider:
    address: str
    gpu_model: str
    amount: str  # price per block, micro units of denom (a string, as on the wire)
    denom: str = "ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1"


@dataclass
class Scenario:
    providers: list[Provider] = field(
        default_factory=lambda: [Provider("akash1provider0a100", "a100", "2000")]
    )
    bids_after_polls: int = 0  # GET /v1/bids answers [] this many times per deployment
    null_status_polls: int = 0  # a lease's status is null for this many GETs
    # (method, path prefix, status, times): answer that status instead, `times` times.
    failures: list[tuple[str, str, int, int]] = field(default_factory=list)
    escrow_burn_usd_per_s: float = 0.0  # escrow spent per second once leased
    close_unleased_after_s: float = 600.0  # the chain closes deployments nobody leased
    start_worker: bool = True
    worker_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Deployment:
    dseq: str
    sdl: dict
    manifest: str
    escrow_usd: float
    created: float = field(default_factory=time.monotonic)
    state: str = "active"
    bid_polls: int = 0
    status_polls: int = 0
    lease: dict | None = None
    worker: subprocess.Popen | None = None
    worker_port: int | None = None
    last_charge: float = field(default_factory=time.monotonic)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc), whatever session it started."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _gpu_models(sdl: dict) -> list[str]:
    models = []
    for profile in sdl["profiles"]["compute"].values():
        gpu = profile["resources"].get("gpu") or {}
        for entries in (gpu.get("attributes", {}).get("vendor") or {}).values():
            models += [entry["model"] for entry in entries or []]
    return models


def _ceiling(sdl: dict) -> tuple[str, float]:
    placement = next(iter(sdl["profiles"]["placement"].values()))
    price = next(iter(placement["pricing"].values()))
    return price["denom"], float(price["amount"])


class AkashConsoleStandIn:
    def __init__(self, api_key: str, scenario: Scenario | None = None, env: dict | None = None):
        self.api_key = api_key
        self.scenario = scenario or Scenario()
        self.env = dict(os.environ if env is None else env)
        self.deployments: dict[str, Deployment] = {}
        self.requests: list[tuple[str, str, dict]] = []  # method, path, headers
        self.worker_output: list[Path] = []
        self._next_dseq = 23_456_000
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> AkashConsoleStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        for deployment in list(self.deployments.values()):
            self._stop_worker(deployment)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- chain-side behaviour ----------------------------------------------------------
    def _tick(self, deployment: Deployment) -> None:
        now = time.monotonic()
        if deployment.state != "active":
            return
        if deployment.lease is None:
            if now - deployment.created > self.scenario.close_unleased_after_s:
                deployment.state = "closed"
            return
        deployment.escrow_usd -= self.scenario.escrow_burn_usd_per_s * (
            now - deployment.last_charge
        )
        deployment.last_charge = now
        if self.scenario.escrow_burn_usd_per_s and deployment.escrow_usd <= 0:
            deployment.escrow_usd = 0.0
            deployment.lease["state"] = "insufficient_funds"
            deployment.state = "closed"
            self._stop_worker(deployment)

    def _start_worker(self, deployment: Deployment, port: int | None = None) -> None:
        service = next(iter(deployment.sdl["services"].values()))
        sdl_env = dict(item.split("=", 1) for item in service.get("env") or [])
        port = port or free_port()
        log = Path(self.env.get("MOVIE_HOME", "/tmp")) / f"standin-worker-{deployment.dseq}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.worker_output.append(log)
        with open(log, "ab") as out:
            deployment.worker = subprocess.Popen(
                [sys.executable, "-m", "gpu_jobs.worker", "--port", str(port)],
                env={**self.env, **sdl_env, **self.scenario.worker_env},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deployment.worker_port = port

    def _stop_worker(self, deployment: Deployment) -> None:
        worker = deployment.worker
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()

    def _worker_ready(self, deployment: Deployment) -> bool:
        if deployment.worker is None or deployment.worker.poll() is not None:
            return False
        try:
            url = f"http://127.0.0.1:{deployment.worker_port}/healthz"
            return requests.get(url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill_worker(self, dseq: str, restart: bool = True) -> None:
        """A container dying with everything in it; the provider restarts it (same port)."""
        deployment = self.deployments[dseq]
        worker = deployment.worker
        if worker is not None:
            for pid in [worker.pid, *_descendants(worker.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            worker.wait()
        if restart:
            self._start_worker(deployment, deployment.worker_port)

    # ---- wire shapes -------------------------------------------------------------------
    def _deployment_json(self, deployment: Deployment) -> dict:
        leases = []
        if deployment.lease is not None:
            lease = dict(deployment.lease)
            deployment.status_polls += 1
            status = None
            if (
                lease["state"] == "active"
                and deployment.status_polls > self.scenario.null_status_polls
            ):
                ready = self._worker_ready(deployment)
                status = {
                    "forwarded_ports": {},
                    "ips": {},
                    "services": {
                        name: {
                            "name": name,
                            "available": 1 if ready else 0,
                            "total": 1,
                            # Providers report bare host names; loopback needs the port too.
                            "uris": [f"127.0.0.1:{deployment.worker_port}"] if ready else [],
                            "observed_generation": 1,
                            "replicas": 1,
                            "updated_replicas": 1,
                            "ready_replicas": 1 if ready else 0,
                            "available_replicas": 1 if ready else 0,
                        }
                        for name in deployment.sdl["services"]
                    },
                }
            leases.append({**lease, "status": status})
        return {
            "data": {
                "deployment": {
                    "id": {"owner": OWNER, "dseq": deployment.dseq},
                    "state": deployment.state,
                    "hash": "standin",
                    "created_at": "1",
                },
                "leases": leases,
                "escrow_account": {
                    "id": {"scope": "deployment", "xid": f"{OWNER}/{deployment.dseq}"},
                    "state": "open" if deployment.state == "active" else "closed",
                    "balance": {
                        "denom": "uusdc",
                        "amount": f"{max(deployment.escrow_usd, 0.0) * 1e6:.0f}",
                    },
                },
            }
        }

    def _bids_json(self, deployment: Deployment) -> list[dict]:
        deployment.bid_polls += 1
        if deployment.state != "active" or deployment.bid_polls <= self.scenario.bids_after_polls:
            return []
        models = _gpu_models(deployment.sdl)
        denom, ceiling = _ceiling(deployment.sdl)
        bids = []
        for number, provider in enumerate(self.scenario.providers):
            if provider.gpu_model not in models or provider.denom != denom:
                continue
            if float(provider.amount) > ceiling:
                continue
            bid_id = {
                "owner": OWNER,
                "dseq": deployment.dseq,
                "gseq": 1,
                "oseq": 1,
                "provider": provider.address,
                "bseq": number,
            }
            bids.append(
                {
                    "bid": {
                        "id": bid_id,
                        "state": "open",
                        "price": {"denom": provider.denom, "amount": provider.amount},
                        "created_at": "1",
                        "resources_offer": [],
                    },
                    "escrow_account": {"state": "open"},
                }
            )
        return bids

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                pass

            def _send(self, status: int, payload: dict | None) -> None:
                body = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, error: str, message: str) -> None:
                self._send(
                    status,
                    {"error": error, "message": message, "code": error.lower(), "type": "client"},
                )

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with standin._lock:
                    standin.requests.append((method, url.path, dict(self.headers)))
                    for index, (f_method, prefix, status, times) in enumerate(
                        standin.scenario.failures
                    ):
                        if f_method == method and url.path.startswith(prefix) and times > 0:
                            standin.scenario.failures[index] = (f_method, prefix, status, times - 1)
                            self._error(
                                status,
                                "TooManyRequests" if status == 429 else "InternalServerError",
                                f"scripted {status}",
                            )
                            return
                    if self.headers.get("x-api-key") != standin.api_key:
                        self._error(401, "Unauthorized", "invalid API key")
                        return
                    for deployment in standin.deployments.values():
                        standin._tick(deployment)
                    try:
                        payload = json.loads(body) if body else {}
                    except ValueError:
                        self._error(400, "BadRequest", "body is not JSON")
                        return
                    standin._route(self, method, url.path, parse_qs(url.query), payload)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        return Handler

    def _route(self, handler, method: str, path: str, query: dict, payload: dict) -> None:
        if method == "POST" and path == "/v1/deployments":
            data = payload.get("data") or {}
            if not isinstance(data.get("sdl"), str) or not isinstance(
                data.get("deposit"), int | float
            ):
                handler._error(400, "BadRequest", "data.sdl must be a string, deposit a number")
                return
            try:
                sdl = yaml.safe_load(data["sdl"])
                _gpu_models(sdl), _ceiling(sdl), next(iter(sdl["services"]))
            except Exception as error:
                handler._error(400, "BadRequest", f"invalid SDL: {error}")
                return
            dseq = str(self._next_dseq)
            self._next_dseq += 1
            manifest = json.dumps([{"name": "akash", "services": list(sdl["services"])}])
            self.deployments[dseq] = Deployment(dseq, sdl, manifest, float(data["deposit"]))
            handler._send(201, {"data": {"dseq": dseq, "manifest": manifest, "signTx": {}}})
            return
        if method == "GET" and path == "/v1/bids":
            deployment = self.deployments.get((query.get("dseq") or [""])[0])
            handler._send(200, {"data": self._bids_json(deployment) if deployment else []})
            return
        if method == "POST" and path == "/v1/leases":
            self._create_lease(handler, payload)
            return
        if method == "POST" and path == "/v1/deposit-deployment":
            data = payload.get("data") or {}
            deployment = self.deployments.get(data.get("dseq"))
            if not isinstance(data.get("deposit"), int | float) or deployment is None:
                handler._error(
                    400,
                    "BadRequest",
                    "data.dseq must name a deployment, data.deposit must be a number",
                )
                return
            if deployment.state != "active":
                handler._error(400, "BadRequest", "deployment is closed")
                return
            deployment.escrow_usd += float(data["deposit"])
            handler._send(200, self._deployment_json(deployment))
            return
        if path.startswith("/v1/deployments/"):
            deployment = self.deployments.get(path.rsplit("/", 1)[1])
            if deployment is None:
                handler._error(404, "NotFound", "deployment not found")
                return
            if method == "GET":
                handler._send(200, self._deployment_json(deployment))
                return
            if method == "DELETE":
                deployment.state = "closed"
                if deployment.lease is not None:
                    deployment.lease["state"] = "closed"
                self._stop_worker(deployment)
                handler._send(200, {"data": {"success": True}})
                return
        handler._error(404, "NotFound", f"no route {method} {path}")

    def _create_lease(self, handler, payload: dict) -> None:
        leases = payload.get("leases")
        if (
            not isinstance(payload.get("manifest"), str)
            or not isinstance(leases, list)
            or not leases
        ):
            handler._error(400, "BadRequest", "manifest must be a string, leases a non-empty list")
            return
        lease = leases[0]
        types = {"dseq": str, "gseq": int, "oseq": int, "provider": str}
        if any(not isinstance(lease.get(k), t) for k, t in types.items()):
            handler._error(400, "BadRequest", "dseq/provider must be strings, gseq/oseq numbers")
            return
        deployment = self.deployments.get(lease["dseq"])
        if deployment is None or deployment.state != "active":
            handler._error(400, "BadRequest", "deployment not found or closed")
            return
        if payload["manifest"] != deployment.manifest:
            handler._error(400, "BadRequest", "manifest does not match the deployment")
            return
        provider = next(
            (p for p in self.scenario.providers if p.address == lease["provider"]), None
        )
        if provider is None:
            handler._error(400, "BadRequest", "no open bid from that provider")
            return
        deployment.lease = {
            "id": {"owner": OWNER, **{k: lease[k] for k in types}, "bseq": 0},
            "state": "active",
            "price": {"denom": provider.denom, "amount": provider.amount},
        }
        deployment.last_charge = time.monotonic()
        if self.scenario.start_worker:
            self._start_worker(deployment)
        handler._send(200, self._deployment_json(deployment))
