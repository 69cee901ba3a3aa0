"""A local stand-in for the Akash Console API: the same paths, JSON shapes, types and status codes.

Built from the Console's own zod schemas (tests/akash_console_schema.py names the files and the
commit): requests are validated with the same strictness as the real API (a string where a number
belongs is a 400 `validation_error`), answers are built to the response schemas and checked
against them by tests/test_akash_console_contract.py, errors are {error, message, code, type}.
It is a test double for the remote service only (no chain, no providers). What it mirrors of the
Console's behaviour, from its source:
- create: dseq is the creation time in ms (a string); the SDL's pricing denoms are rewritten to
  the deployment denom (`grant_denom`, uact on mainnet); `deposit` is optional and deprecated:
  with managed deposits on, it is ignored and 0.5 USD is funded, otherwise it is required; the
  deployment's `hash` is the manifest's sha256 (base64), equal for equal SDLs;
- escrow: `escrow_account.state.funds` (what is left) and `deposits` in micro units of the
  deployment denom, decimal strings with 18 decimals like the chain's DecCoins; a deposit of D
  dollars is D * 1e6 micro units of that denom (the Console's denomToUdenom);
- GET /v1/deployments lists the owner's active deployments with pagination;
- POST /v1/leases skips the lease transaction when the deployment already has a lease;
- closing a closed deployment is a no-op.
Scripted scenarios reproduce what users meet on the real network (bids only after some polls, no
bids at all, 429/500 answers, answers lost after the work was done, lease status null while a
provider is unreachable, a lease closed when the escrow runs out, deployments without a lease
closed after a while). When a lease is created it starts the real worker (python -m
gpu_jobs.worker) as a local process with the SDL's environment, reports it in the lease status
as a bare host name like a provider would, and stops it when the deployment closes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
import yaml
from pydantic import BaseModel, ValidationError

from tests import akash_console_schema as wire

ROOT = Path(__file__).resolve().parent.parent
OWNER = "akash1standinowner0000000000000000000000000"
MANAGED_DEFAULT_DEPOSIT_USD = 0.5  # DEPLOYMENT_DEFAULT_DEPOSIT's default in the Console


class LostAnswer(Exception):
    """The work is done, but the answer never reaches the client."""


@dataclass
class Provider:
    address: str
    gpu_model: str
    amount: str  # price per block, micro units of the deployment denom (a string, as on the wire)


@dataclass
class Scenario:
    providers: list[Provider] = field(
        default_factory=lambda: [Provider("akash1provider0a100", "a100", "2000")]
    )
    grant_denom: str = "uact"  # the Console's DEPLOYMENT_GRANT_DENOM
    managed_deposits: bool = False  # the AUTO_RELOAD_FIXED_THRESHOLD feature flag
    bids_after_polls: int = 0  # GET /v1/bids answers [] this many times per deployment
    null_status_polls: int = 0  # a lease's status is null for this many GETs
    # (method, path prefix, status, times): answer that status instead, `times` times.
    failures: list[tuple[str, str, int, int]] = field(default_factory=list)
    # (method, path prefix, status, times): do the work, then lose the answer: status 0 drops
    # the connection, another status answers like a gateway that timed out.
    lost_answers: list[tuple[str, str, int, int]] = field(default_factory=list)
    escrow_burn_usd_per_s: float = 0.0  # escrow spent per second once leased
    close_unleased_after_s: float = 600.0  # the chain closes deployments nobody leased
    start_worker: bool = True
    worker_env: dict[str, str] = field(default_factory=dict)


def _micro(usd: float) -> Decimal:
    return Decimal(str(round(usd * 1e6)))


def _dec(micro: Decimal) -> str:
    """A chain DecCoin amount: 18 decimals."""
    return f"{micro:.18f}"


@dataclass
class Deployment:
    dseq: str
    sdl: dict
    manifest: str
    denom: str
    created: float = field(default_factory=time.monotonic)
    state: str = "active"
    bid_polls: int = 0
    status_polls: int = 0
    lease: dict | None = None
    worker: subprocess.Popen | None = None
    worker_port: int | None = None
    worker_log: Path | None = None
    last_charge: float = field(default_factory=time.monotonic)
    funds: Decimal = Decimal(0)  # micro units of denom left in escrow
    transferred: Decimal = Decimal(0)
    deposits: list[dict] = field(default_factory=list)

    @property
    def hash(self) -> str:
        return base64.b64encode(hashlib.sha256(self.manifest.encode()).digest()).decode()

    @property
    def escrow_usd(self) -> float:
        return float(self.funds) / 1e6  # uact and USDC: 1e-6 USD per micro unit

    def deposit(self, usd: float, height: int) -> None:
        micro = _micro(usd)
        self.funds += micro
        self.deposits.append(
            {
                "owner": OWNER,
                "height": str(height),
                "source": "grant",
                "balance": {"denom": self.denom, "amount": _dec(micro)},
            }
        )


def announced_port(worker_log: Path) -> int | None:
    """The port a worker started with `--port 0` bound, once it said so in its log."""
    said = re.findall(r"worker: listening on port (\d+)", worker_log.read_text(errors="replace"))
    return int(said[-1]) if said else None


CONTAINER_ENV = "AKASH_STANDIN_CONTAINER"  # marks every process of one deployment's "container"


def _container_processes(dseq: str) -> list[int]:
    """Every process started inside a deployment's container, wherever it was reparented (a
    forked run leaves the worker's process tree): found by the marker in its environment."""
    marker = f"{CONTAINER_ENV}={dseq}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


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


def _ceiling(sdl: dict) -> float:
    placement = next(iter(sdl["profiles"]["placement"].values()))
    return float(next(iter(placement["pricing"].values()))["amount"])


def _manifest(sdl: dict) -> str:
    """A manifest in the Console's manner: sorted JSON of the groups, services with their env,
    so two SDLs differing in one variable have different manifests (and hashes)."""
    services = [
        {"name": name, "image": service.get("image", ""), "env": service.get("env") or []}
        for name, service in sdl["services"].items()
    ]
    return json.dumps([{"name": "akash", "services": services}], sort_keys=True)


class AkashConsoleStandIn:
    def __init__(self, api_key: str, scenario: Scenario | None = None, env: dict | None = None):
        self.api_key = api_key
        self.scenario = scenario or Scenario()
        self.env = dict(os.environ if env is None else env)
        self.deployments: dict[str, Deployment] = {}
        self.requests: list[tuple[str, str, dict]] = []  # method, path, headers
        self.bodies: list[tuple[str, str, dict]] = []  # method, path, JSON body
        self.answers: list[tuple[str, str, int, object]] = []  # method, path, status, JSON
        self.worker_output: list[Path] = []
        self._last_dseq = 0
        self._height = 1_000_000
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

    def active(self) -> list[Deployment]:
        return [d for d in self.deployments.values() if d.state == "active"]

    # ---- chain-side behaviour ----------------------------------------------------------
    def _next_height(self) -> int:
        self._height += 1
        return self._height

    def _tick(self, deployment: Deployment) -> None:
        now = time.monotonic()
        if deployment.state != "active":
            return
        if deployment.lease is None:
            if now - deployment.created > self.scenario.close_unleased_after_s:
                deployment.state = "closed"
            return
        spent = min(
            _micro(self.scenario.escrow_burn_usd_per_s * (now - deployment.last_charge)),
            deployment.funds,
        )
        deployment.funds -= spent
        deployment.transferred += spent
        deployment.last_charge = now
        if self.scenario.escrow_burn_usd_per_s and deployment.funds <= 0:
            deployment.lease["state"] = "insufficient_funds"
            deployment.lease["closed_on"] = str(self._next_height())
            deployment.state = "closed"
            self._stop_worker(deployment)

    def _start_worker(self, deployment: Deployment, port: int | None = None) -> None:
        service = next(iter(deployment.sdl["services"].values()))
        sdl_env = dict(item.split("=", 1) for item in service.get("env") or [])
        # A first start binds port 0 and announces it: a port picked here and bound later can be
        # taken in between by any process's outgoing connection. A restart keeps its port.
        log = Path(self.env.get("MOVIE_HOME", "/tmp")) / f"standin-worker-{deployment.dseq}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.worker_output.append(log)
        with open(log, "ab") as out:
            deployment.worker = subprocess.Popen(
                [sys.executable, "-m", "gpu_jobs.worker", "--port", str(port or 0)],
                env={
                    **self.env,
                    **sdl_env,
                    **self.scenario.worker_env,
                    CONTAINER_ENV: deployment.dseq,
                },
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deployment.worker_port = port
        deployment.worker_log = log

    def _stop_worker(self, deployment: Deployment) -> None:
        worker = deployment.worker
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
        if worker is not None:  # a closed lease takes its whole container along
            _kill_all(_container_processes(deployment.dseq))

    def _worker_ready(self, deployment: Deployment) -> bool:
        if deployment.worker is None or deployment.worker.poll() is not None:
            return False
        if deployment.worker_port is None:
            deployment.worker_port = announced_port(deployment.worker_log)
            if deployment.worker_port is None:
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
            _kill_all([worker.pid, *_descendants(worker.pid)])
            _kill_all(_container_processes(dseq))
            worker.wait()
        if restart:
            self._start_worker(deployment, deployment.worker_port)

    # ---- wire shapes -------------------------------------------------------------------
    def _escrow_json(self, deployment: Deployment) -> dict:
        return {
            "id": {"scope": "deployment", "xid": f"{OWNER}/{deployment.dseq}"},
            "state": {
                "owner": OWNER,
                "state": "open" if deployment.state == "active" else "closed",
                "transferred": [
                    {"denom": deployment.denom, "amount": _dec(deployment.transferred)}
                ],
                "settled_at": str(self._height),
                "funds": [{"denom": deployment.denom, "amount": _dec(deployment.funds)}],
                "deposits": [dict(d) for d in deployment.deposits],
            },
        }

    def _deployment_body(self, deployment: Deployment) -> dict:
        return {
            "id": {"owner": OWNER, "dseq": deployment.dseq},
            "state": deployment.state,
            "hash": deployment.hash,
            "created_at": str(deployment.dseq),
        }

    def _status_json(self, deployment: Deployment) -> dict | None:
        assert deployment.lease is not None
        deployment.status_polls += 1
        if (
            deployment.lease["state"] != "active"
            or deployment.status_polls <= self.scenario.null_status_polls
        ):
            return None
        ready = self._worker_ready(deployment)
        return {
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

    def _deployment_json(self, deployment: Deployment) -> dict:
        leases = []
        if deployment.lease is not None:
            leases.append({**deployment.lease, "status": self._status_json(deployment)})
        return {
            "deployment": self._deployment_body(deployment),
            "leases": leases,
            "escrow_account": self._escrow_json(deployment),
        }

    def _bids_json(self, deployment: Deployment) -> list[dict]:
        deployment.bid_polls += 1
        if deployment.state != "active" or deployment.bid_polls <= self.scenario.bids_after_polls:
            return []
        models = _gpu_models(deployment.sdl)
        ceiling = _ceiling(deployment.sdl)
        bids = []
        for number, provider in enumerate(self.scenario.providers):
            if provider.gpu_model not in models or float(provider.amount) > ceiling:
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
                        "price": {"denom": deployment.denom, "amount": provider.amount},
                        "created_at": str(self._height),
                        "resources_offer": [],
                    },
                    "escrow_account": {
                        "id": {"scope": "bid", "xid": f"{provider.address}/{deployment.dseq}"},
                        "state": {
                            "owner": provider.address,
                            "state": "open",
                            "transferred": [],
                            "settled_at": str(self._height),
                            "funds": [],
                            "deposits": [],
                        },
                    },
                }
            )
        return bids

    # ---- HTTP ------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                pass

            def _send(self, status: int, payload: object) -> None:
                body = json.dumps(payload).encode()
                standin.answers.append((self.command, urlparse(self.path).path, status, payload))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with standin._lock:
                    standin.requests.append((method, url.path, dict(self.headers)))
                    failure = _take(standin.scenario.failures, method, url.path)
                    if failure is not None:
                        self._send(failure, _error_body(failure, f"scripted {failure}"))
                        return
                    if self.headers.get("x-api-key") != standin.api_key:
                        self._send(401, _error_body(401, "Unauthorized", "UnauthorizedError"))
                        return
                    for deployment in standin.deployments.values():
                        standin._tick(deployment)
                    try:
                        payload = json.loads(body) if body else None
                    except ValueError:
                        self._send(400, _error_body(400, "Malformed JSON in request body"))
                        return
                    standin.bodies.append((method, url.path, payload))
                    try:
                        status, answer = standin._route(
                            method, url.path, parse_qs(url.query), payload
                        )
                    except ValidationError as error:
                        status, answer = 400, _validation_error(error)
                    except ApiError as error:
                        status, answer = error.status, _error_body(error.status, error.message)
                    lost = _take(standin.scenario.lost_answers, method, url.path)
                if lost == 0:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if lost is not None:
                    self._send(lost, _error_body(lost, "upstream timed out", "GatewayTimeout"))
                    return
                self._send(status, answer)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

        return Handler

    def _route(self, method: str, path: str, query: dict, payload) -> tuple[int, object]:
        if method == "POST" and path == "/v1/deployments":
            return 201, self._create(wire.CreateDeploymentRequest.model_validate(payload).data)
        if method == "GET" and path == "/v1/deployments":
            return 200, self._list(query)
        if method == "GET" and path == "/v1/bids":
            dseq = _query_dseq(query)
            deployment = self.deployments.get(dseq)
            return 200, {"data": self._bids_json(deployment) if deployment else []}
        if method == "POST" and path == "/v1/leases":
            request = wire.CreateLeaseRequest.model_validate(payload)
            return 200, {"data": self._create_lease(request)}
        if method == "POST" and path == "/v1/deposit-deployment":
            data = wire.DepositDeploymentRequest.model_validate(payload).data
            deployment = self._find(data.dseq)
            if deployment.state != "active":
                raise ApiError(400, f"deployment {data.dseq} is closed")
            if data.deposit <= 0:
                raise ApiError(400, "deposit must be positive")
            deployment.deposit(float(data.deposit), self._next_height())
            return 200, {"data": self._deployment_json(deployment)}
        if path.startswith("/v1/deployments/"):
            try:
                dseq = wire._dseq(path.rsplit("/", 1)[1])
            except ValueError:
                raise ApiError(400, "Validation error") from None
            deployment = self._find(dseq)
            if method == "GET":
                return 200, {"data": self._deployment_json(deployment)}
            if method == "DELETE":
                if deployment.state == "active":  # closing a closed one is a no-op
                    deployment.state = "closed"
                    if deployment.lease is not None:
                        deployment.lease["state"] = "closed"
                        deployment.lease["closed_on"] = str(self._next_height())
                    deployment.funds = Decimal(0)  # the rest goes back to the owner
                    self._stop_worker(deployment)
                return 200, {"data": {"success": True}}
        raise ApiError(404, f"no route {method} {path}")

    def _find(self, dseq: str) -> Deployment:
        deployment = self.deployments.get(dseq)
        if deployment is None:
            raise ApiError(404, "Deployment not found")
        return deployment

    def _create(self, data: wire.CreateDeploymentRequestData) -> dict:
        if self.scenario.managed_deposits:
            deposit = MANAGED_DEFAULT_DEPOSIT_USD  # the caller's deposit is ignored
        elif data.deposit is None:
            raise ApiError(400, "deposit is required")
        else:
            deposit = float(data.deposit)
        try:
            sdl = yaml.safe_load(data.sdl)
            _gpu_models(sdl), _ceiling(sdl), next(iter(sdl["services"]))
        except Exception as error:
            raise ApiError(400, f"Invalid SDL: {type(error).__name__}: {error}") from None
        for placement in sdl["profiles"]["placement"].values():
            for price in placement["pricing"].values():
                price["denom"] = self.scenario.grant_denom  # as the Console does
        dseq = max(int(time.time() * 1000), self._last_dseq + 1)  # Date.now()
        self._last_dseq = dseq
        deployment = Deployment(str(dseq), sdl, _manifest(sdl), self.scenario.grant_denom)
        deployment.deposit(deposit, self._next_height())
        self.deployments[deployment.dseq] = deployment
        tx = hashlib.sha256(f"create {dseq}".encode()).hexdigest().upper()
        return {
            "data": {
                "dseq": deployment.dseq,
                "manifest": deployment.manifest,
                "signTx": {"code": 0, "transactionHash": tx, "rawLog": "[]"},
            }
        }

    def _list(self, query: dict) -> dict:
        try:
            skip = int((query.get("skip") or ["0"])[0])
            limit = int((query.get("limit") or ["1000"])[0])
        except ValueError:
            raise ApiError(400, "Validation error") from None
        if skip < 0 or limit < 1:
            raise ApiError(400, "Validation error")
        active = self.active()
        page = active[skip : skip + limit]
        return {
            "data": {
                "deployments": [
                    {
                        "deployment": self._deployment_body(d),
                        "leases": [dict(d.lease)] if d.lease is not None else [],
                        "escrow_account": self._escrow_json(d),
                    }
                    for d in page
                ],
                "pagination": {
                    "total": len(active),
                    "skip": skip,
                    "limit": limit,
                    "hasMore": len(active) > skip + limit,
                },
            }
        }

    def _create_lease(self, request: wire.CreateLeaseRequest) -> dict:
        if not request.leases:
            raise ApiError(400, "leases must not be empty")
        lease = request.leases[0]
        if not lease.provider.startswith("akash1"):
            raise ApiError(400, "Validation error")
        deployment = self._find(lease.dseq)
        if deployment.state != "active":
            raise ApiError(400, f"deployment {lease.dseq} is closed")
        if request.manifest != deployment.manifest:
            raise ApiError(400, "manifest does not match the deployment")
        provider = next((p for p in self.scenario.providers if p.address == lease.provider), None)
        if provider is None:
            raise ApiError(400, "no open bid from that provider")
        if deployment.lease is None:  # an existing lease: no new transaction (idempotent)
            deployment.lease = {
                "id": {
                    "owner": OWNER,
                    "dseq": deployment.dseq,
                    "gseq": lease.gseq,
                    "oseq": lease.oseq,
                    "provider": lease.provider,
                    "bseq": self.scenario.providers.index(provider),
                },
                "state": "active",
                "price": {"denom": deployment.denom, "amount": provider.amount},
                "created_at": str(self._next_height()),
                "closed_on": "0",
            }
            deployment.last_charge = time.monotonic()
            if self.scenario.start_worker:
                self._start_worker(deployment)
        return self._deployment_json(deployment)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_NAMES = {
    400: ("BadRequestError", "bad_request"),
    401: ("UnauthorizedError", "unauthorized"),
    404: ("NotFoundError", "not_found"),
    429: ("TooManyRequestsError", "rate_limited"),
    500: ("InternalServerError", "internal_server_error"),
    502: ("BadGatewayError", "service_unavailable"),
    503: ("ServiceUnavailableError", "service_unavailable"),
    504: ("GatewayTimeoutError", "unknown_error"),
}


def _error_body(status: int, message: str, name: str | None = None) -> dict:
    error, code = _NAMES.get(status, ("HttpError", "unknown_error"))
    return {
        "error": name or error,
        "message": message,
        "code": code,
        "type": "server_error" if status >= 500 else "client_error",
    }


def _validation_error(error: ValidationError) -> dict:
    return {
        "error": "BadRequestError",
        "message": "Validation error",
        "code": "validation_error",
        "type": "validation_error",
        "data": [
            {"path": list(item["loc"]), "message": item["msg"]}
            for item in error.errors(include_url=False, include_input=False)
        ],
    }


def _query_dseq(query: dict) -> str:
    values = query.get("dseq") or []
    if len(values) != 1:
        raise ApiError(400, "Validation error")
    try:
        return wire._dseq(values[0])
    except ValueError:
        raise ApiError(400, "Validation error") from None


def _take(rules: list[tuple[str, str, int, int]], method: str, path: str) -> int | None:
    """The status of the first matching scripted rule with times left (and use one)."""
    for index, (r_method, prefix, status, times) in enumerate(rules):
        if r_method == method and path.startswith(prefix) and times > 0:
            rules[index] = (r_method, prefix, status, times - 1)
            return status
    return None


def check_answer(method: str, path: str, status: int, payload: object) -> BaseModel:
    """Validate one answer against the schema (the contract test's check)."""
    if status >= 400:
        return wire.ErrorResponse.model_validate(payload)
    pattern = "/v1/deployments/{dseq}" if path.startswith("/v1/deployments/") else path
    expected, model = wire.ROUTES[(method, pattern)]
    assert status == expected, f"{method} {path} answered {status}, the API answers {expected}"
    return model.model_validate(payload)
