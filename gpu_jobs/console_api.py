"""A client of the Akash Console API (the managed-wallet REST API), with its wire shapes.

Shapes follow the Console API source, which disagrees with the published reference in places:
dseq and all amounts are strings; gseq, oseq and bseq are numbers; deposits are numbers (USD);
only create answers 201; errors are {error, message, code, type}. The API key is read from the
environment (AKASH_CONSOLE_API_KEY) by whoever builds the client, sent only in the x-api-key
header, and never put in a message, log line or exception.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_BASE_URL = "https://console-api.akash.network"
API_KEY_ENV = "AKASH_CONSOLE_API_KEY"


def without_api_key(env: Mapping[str, str]) -> dict[str, str]:
    """An environment for a process that must not hold the Console API key (the key is the
    daemon's alone: runs, the webserver and the code server never need it)."""
    return {name: value for name, value in env.items() if name != API_KEY_ENV}


BASE_URL_ENV = "AKASH_CONSOLE_URL"

# Statuses worth another try: the API rate-limits (429) and its chain calls flake (5xx).
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}


class ConsoleApiError(RuntimeError):
    """The Console API refused or failed a request; the message is the API's own, no secrets."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class BidId(_Wire):
    owner: str
    dseq: str
    gseq: int
    oseq: int
    provider: str
    bseq: int = 0


BLOCK_SECONDS = 6.1  # mean Akash block time: leases bill per block, idle or not


class Price(_Wire):
    denom: str  # uakt, or an IBC denom of USDC (micro units either way)
    amount: str  # per block, a decimal string of micro units

    def usd_per_hour(self, akt_usd: float) -> float:
        per_unit = 1.0 if self.denom != "uakt" else akt_usd  # USDC is 1 USD
        return float(self.amount) / 1e6 * per_unit * 3600 / BLOCK_SECONDS


class Bid(_Wire):
    id: BidId
    state: str
    price: Price


class BidEntry(_Wire):
    bid: Bid


class CreatedDeployment(_Wire):
    dseq: str
    manifest: str


class LeaseRef(_Wire):
    """What POST /v1/leases takes per lease: the bid it accepts."""

    dseq: str
    gseq: int
    oseq: int
    provider: str


class ServiceStatus(_Wire):
    uris: list[str] = Field(default_factory=list)  # bare host names, not URLs
    ready_replicas: int = 0
    available_replicas: int = 0
    total: int = 0


class LeaseStatus(_Wire):
    services: dict[str, ServiceStatus] = Field(default_factory=dict)
    forwarded_ports: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


class LeaseInfo(_Wire):
    id: dict[str, Any]
    state: str  # active | insufficient_funds | closed
    price: Price | None = None
    status: LeaseStatus | None = None  # null when the provider cannot be reached


class DeploymentInfo(_Wire):
    state: str  # active | closed
    dseq: str
    escrow_balance: float | None = None  # escrow left (whole units), when the API reports it
    leases: list[LeaseInfo] = Field(default_factory=list)


class ConsoleClient:
    """The six calls a lease needs. Retries 429/5xx with backoff; other errors raise at once."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
    ) -> None:
        if not api_key:
            raise ValueError(f"{API_KEY_ENV}: the Console API key must not be empty")
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["x-api-key"] = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **options: Any) -> ConsoleClient:
        env = dict(os.environ if env is None else env)
        key = env.get(API_KEY_ENV, "")
        if not key:
            raise ValueError(f"{API_KEY_ENV} is not set: the Console API needs an API key")
        return cls(key, env.get(BASE_URL_ENV) or DEFAULT_BASE_URL, **options)

    def _call(self, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> Any:
        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            try:
                response = self._session.request(method, url, timeout=self.timeout_s, **kwargs)
            except requests.RequestException as error:
                if attempt == self.max_retries:
                    # The exception text names the URL only; headers (the key) are not in it.
                    raise ConsoleApiError(
                        f"{method} {path}: {type(error).__name__}: {error}"
                    ) from None
                time.sleep(self.backoff_s * 2**attempt)
                continue
            if response.status_code in _RETRY_STATUSES and attempt < self.max_retries:
                retry_after = response.headers.get("retry-after", "")
                wait = float(retry_after) if retry_after.isdigit() else self.backoff_s * 2**attempt
                time.sleep(min(wait, 30.0))
                continue
            if response.status_code != expect:
                raise _error_of(method, path, response)
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    def create_deployment(self, sdl: str, deposit_usd: float) -> CreatedDeployment:
        body = {"data": {"sdl": sdl, "deposit": deposit_usd}}
        answer = self._call("POST", "/v1/deployments", json=body, expect=201)
        return CreatedDeployment.model_validate(answer["data"])

    def bids(self, dseq: str) -> list[Bid]:
        answer = self._call("GET", "/v1/bids", params={"dseq": dseq})
        return [BidEntry.model_validate(entry).bid for entry in answer["data"]]

    def create_lease(self, manifest: str, bid: Bid) -> DeploymentInfo:
        lease = LeaseRef(
            dseq=bid.id.dseq, gseq=bid.id.gseq, oseq=bid.id.oseq, provider=bid.id.provider
        )
        answer = self._call(
            "POST", "/v1/leases", json={"manifest": manifest, "leases": [lease.model_dump()]}
        )
        return _deployment_of(answer)

    def deployment(self, dseq: str) -> DeploymentInfo:
        return _deployment_of(self._call("GET", f"/v1/deployments/{dseq}"))

    def deposit(self, dseq: str, deposit_usd: float) -> None:
        self._call(
            "POST", "/v1/deposit-deployment", json={"data": {"dseq": dseq, "deposit": deposit_usd}}
        )

    def close(self, dseq: str) -> None:
        self._call("DELETE", f"/v1/deployments/{dseq}")


def _deployment_of(answer: dict) -> DeploymentInfo:
    """GET /v1/deployments/{dseq} answers {data:{deployment:{...}, leases:[...], escrow...}}."""
    data = answer.get("data", answer)
    deployment = data.get("deployment", {})
    deployment_id = deployment.get("id") or deployment.get("deployment_id") or {}
    escrow = data.get("escrow_account") or deployment.get("escrow_account") or {}
    balance = escrow.get("balance") or {}
    return DeploymentInfo(
        state=deployment.get("state", "active"),
        dseq=str(deployment_id.get("dseq", "")),
        # Micro units of the escrow's denom; USDC-denominated escrow reads as USD.
        escrow_balance=float(balance["amount"]) / 1e6 if "amount" in balance else None,
        leases=[LeaseInfo.model_validate(lease) for lease in data.get("leases", [])],
    )


def _error_of(method: str, path: str, response: requests.Response) -> ConsoleApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    message = body.get("message") or body.get("error") or response.reason or "no message"
    return ConsoleApiError(
        f"{method} {path} answered {response.status_code}: {message}",
        status=response.status_code,
        code=str(body.get("code")) if body.get("code") is not None else None,
    )
