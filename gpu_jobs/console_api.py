"""A client of the Akash Console API (the managed-wallet REST API), with its wire shapes.

Shapes follow the Console API source (the zod schemas in apps/api/src/deployment/http-schemas/
and apps/api/src/bid/http-schemas/ of github.com/akash-network/console; the commit is named in
tests/akash_console_schema.py), which disagrees with the published reference in places: dseq
and all amounts are strings; gseq, oseq and bseq are numbers; deposits are numbers (USD); only
create answers 201; errors are {error, message, code, type}.

Money: the escrow is `escrow_account.state.funds`, a list of {denom, amount} in the denom's micro
units (decimal strings); deposits are `escrow_account.state.deposits[].balance`. Amounts become
USD with `UsdRates`: `uact` (the Console's deployment denom on mainnet, 1 ACT = 1 USD) and USDC
(`uusdc` or its IBC denom on Akash) at 1e-6 USD per micro unit; `uakt` at the configured AKT
price (MOVIE_AKT_USD) times 1e-6; any other denom is an error, never read as USD.

Creating a deployment is not idempotent on the API's side (each POST signs a new transaction), so
`create_deployment` is never retried after the request may have reached the API: a 5xx or a lost
answer raises `ConsoleApiError` with `maybe_done=True`, and gpu_jobs.leases decides (see
`LeaseManager._create`). The API key is read from the environment (AKASH_CONSOLE_API_KEY) by
whoever builds the client, sent only in the x-api-key header, and never put in a message, log
line or exception.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_BASE_URL = "https://console-api.akash.network"
API_KEY_ENV = "AKASH_CONSOLE_API_KEY"
AKT_USD_ENV = "MOVIE_AKT_USD"


def without_api_key(env: Mapping[str, str]) -> dict[str, str]:
    """An environment for a process that must not hold the Console API key (the key is the
    daemon's alone: runs, the webserver and the code server never need it)."""
    return {name: value for name, value in env.items() if name != API_KEY_ENV}


BASE_URL_ENV = "AKASH_CONSOLE_URL"

# Statuses worth another try for requests that change nothing, or that the API refused before
# doing anything (429: rate limited). A create is never retried on 5xx: see the module docstring.
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
_REFUSED_BEFORE_WORK = {429}

# USD per micro unit of the denoms the Console API funds and prices deployments in.
UACT = "uact"  # the Console's DEPLOYMENT_GRANT_DENOM on mainnet; 1 ACT = 1 USD
USDC_DENOMS = ("uusdc", "ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1")
UAKT = "uakt"
_MICRO = Decimal("0.000001")


class ConsoleApiError(RuntimeError):
    """The Console API refused or failed a request; the message is the API's own, no secrets.
    `maybe_done`: the request may have been carried out although no success came back (a 5xx
    or a lost answer to a request that changes something)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        code: str | None = None,
        maybe_done: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.maybe_done = maybe_done


class UnknownDenom(ValueError):
    """An amount in a denom with no USD rate: refused rather than counted as USD."""


class UsdRates(BaseModel):
    """How micro units of a denom become USD (the rate source: fixed for uact and USDC, the
    configured AKT price for uakt)."""

    akt_usd: float | None = Field(default=None, gt=0, description="USD per AKT (MOVIE_AKT_USD)")

    def usd(self, denom: str, amount: str, field: str) -> float:
        try:
            micro = Decimal(amount)
        except InvalidOperation:
            raise ValueError(f"{field}: amount {amount!r} is not a decimal number") from None
        if denom == UACT or denom in USDC_DENOMS:
            return float(micro * _MICRO)
        if denom == UAKT:
            if self.akt_usd is None:
                raise UnknownDenom(
                    f"{field}: an amount in uakt needs the USD price of one AKT: set {AKT_USD_ENV}"
                )
            return float(micro * _MICRO) * self.akt_usd
        raise UnknownDenom(
            f"{field}: denom {denom!r} has no USD rate (known: uact, uusdc, the IBC USDC "
            f"denom, and uakt with {AKT_USD_ENV})"
        )


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Coin(_Wire):
    denom: str
    amount: str  # micro units of denom, a decimal string (escrow amounts carry 18 decimals)


class BidId(_Wire):
    owner: str
    dseq: str
    gseq: int
    oseq: int
    provider: str
    bseq: int


BLOCK_SECONDS = 6.1  # mean Akash block time: leases bill per block, idle or not


class Price(Coin):
    """Per block, in micro units of denom."""

    def usd_per_hour(self, rates: UsdRates) -> float:
        per_block = rates.usd(self.denom, self.amount, "bid.price")
        return per_block * 3600 / BLOCK_SECONDS


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
    uris: list[str]  # bare host names, not URLs
    ready_replicas: int
    available_replicas: int
    total: int


class LeaseStatus(_Wire):
    services: dict[str, ServiceStatus]
    forwarded_ports: dict[str, list[dict[str, Any]]]


class LeaseInfo(_Wire):
    id: BidId
    state: str  # active | insufficient_funds | closed
    price: Price
    status: LeaseStatus | None = None  # null when the provider cannot be reached


class EscrowDeposit(_Wire):
    owner: str
    height: str
    source: str
    balance: Coin

    @property
    def key(self) -> str:
        return f"{self.height}/{self.source}/{self.owner}"


class EscrowState(_Wire):
    owner: str
    state: str
    transferred: list[Coin]
    settled_at: str
    funds: list[Coin]
    deposits: list[EscrowDeposit]


class EscrowAccount(_Wire):
    state: EscrowState


class DeploymentId(_Wire):
    owner: str
    dseq: str


class DeploymentBody(_Wire):
    id: DeploymentId
    state: str  # active | closed
    hash: str  # the manifest version: equal for deployments made from the same SDL
    created_at: str


class DeploymentInfo(_Wire):
    """One deployment as GET /v1/deployments/{dseq} (and leases, deposits) answer it."""

    deployment: DeploymentBody
    leases: list[LeaseInfo]
    escrow_account: EscrowAccount

    @property
    def dseq(self) -> str:
        return self.deployment.id.dseq

    @property
    def state(self) -> str:
        return self.deployment.state

    def escrow_usd(self, rates: UsdRates) -> float:
        """What is left in the escrow, in USD (every fund converted; an unknown denom raises)."""
        funds = self.escrow_account.state.funds
        return sum((rates.usd(c.denom, c.amount, "escrow_account.state.funds") for c in funds), 0.0)

    def deposits_usd(self, rates: UsdRates) -> dict[str, float]:
        """Each deposit the escrow reports (keyed by height/source/owner), in USD."""
        return {
            deposit.key: rates.usd(
                deposit.balance.denom,
                deposit.balance.amount,
                "escrow_account.state.deposits[].balance",
            )
            for deposit in self.escrow_account.state.deposits
        }


class ListedLease(_Wire):
    id: BidId
    state: str


class ListedDeployment(_Wire):
    """An entry of GET /v1/deployments (the owner's active deployments; leases without status)."""

    deployment: DeploymentBody
    leases: list[ListedLease]

    @property
    def dseq(self) -> str:
        return self.deployment.id.dseq


class ConsoleClient:
    """The calls a lease needs. Retries 429/5xx with backoff, except where a retry could do a
    thing twice (creating a deployment); other errors raise at once."""

    LIST_PAGE = 100

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

    def _call(
        self, method: str, path: str, *, expect: int = 200, idempotent: bool = True, **kwargs: Any
    ) -> Any:
        """One request, retried while that is safe. `idempotent=False`: retried only when the
        API cannot have acted (429, or no connection made); otherwise a failure after sending
        raises with maybe_done=True."""
        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._session.request(method, url, timeout=self.timeout_s, **kwargs)
            except requests.RequestException as error:
                never_sent = isinstance(error, requests.ConnectTimeout) or (
                    isinstance(error, requests.ConnectionError)
                    and "NewConnectionError" in repr(error)
                )
                if last or not (idempotent or never_sent):
                    # The exception text names the URL only; headers (the key) are not in it.
                    raise ConsoleApiError(
                        f"{method} {path}: {type(error).__name__}: {error}"
                        + ("" if never_sent else " (the answer was lost)"),
                        maybe_done=not never_sent and not idempotent,
                    ) from None
                time.sleep(self.backoff_s * 2**attempt)
                continue
            retry = response.status_code in (
                _RETRY_STATUSES if idempotent else _REFUSED_BEFORE_WORK
            )
            if retry and not last:
                retry_after = response.headers.get("retry-after", "")
                wait = float(retry_after) if retry_after.isdigit() else self.backoff_s * 2**attempt
                time.sleep(min(wait, 30.0))
                continue
            if response.status_code != expect:
                raise _error_of(
                    method,
                    path,
                    response,
                    maybe_done=not idempotent and response.status_code >= 500,
                )
            return response.json() if response.content else None
        raise AssertionError("unreachable")

    def create_deployment(self, sdl: str, deposit_usd: float) -> CreatedDeployment:
        """POST /v1/deployments. `deposit` is deprecated and optional in the schema: with managed
        deposits on, the platform ignores it and funds its own default; without, it is required.
        What the escrow really holds is read back from the deployment, never assumed."""
        body = {"data": {"sdl": sdl, "deposit": deposit_usd}}
        answer = self._call("POST", "/v1/deployments", json=body, expect=201, idempotent=False)
        return CreatedDeployment.model_validate(answer["data"])

    def list_deployments(self) -> list[ListedDeployment]:
        """GET /v1/deployments: the owner's active deployments, every page."""
        found: list[ListedDeployment] = []
        while True:
            answer = self._call(
                "GET", "/v1/deployments", params={"skip": len(found), "limit": self.LIST_PAGE}
            )["data"]
            page = [ListedDeployment.model_validate(entry) for entry in answer["deployments"]]
            found += page
            if not answer["pagination"]["hasMore"] or not page:
                return found

    def bids(self, dseq: str) -> list[Bid]:
        answer = self._call("GET", "/v1/bids", params={"dseq": dseq})
        return [BidEntry.model_validate(entry).bid for entry in answer["data"]]

    def create_lease(self, manifest: str, bid: Bid) -> DeploymentInfo:
        """POST /v1/leases: the API skips the lease transaction when one exists (idempotent)."""
        lease = LeaseRef(
            dseq=bid.id.dseq, gseq=bid.id.gseq, oseq=bid.id.oseq, provider=bid.id.provider
        )
        answer = self._call(
            "POST", "/v1/leases", json={"manifest": manifest, "leases": [lease.model_dump()]}
        )
        return _deployment_of(answer)

    def deployment(self, dseq: str) -> DeploymentInfo:
        return _deployment_of(self._call("GET", f"/v1/deployments/{dseq}"))

    def deposit(self, dseq: str, deposit_usd: float) -> DeploymentInfo:
        """POST /v1/deposit-deployment {data: {dseq, deposit}} (deposit in dollars); the answer is
        the deployment with its escrow after the deposit. Not retried once sent (a retry could
        deposit twice)."""
        answer = self._call(
            "POST",
            "/v1/deposit-deployment",
            json={"data": {"dseq": dseq, "deposit": deposit_usd}},
            idempotent=False,
        )
        return _deployment_of(answer)

    def close(self, dseq: str) -> None:
        """DELETE /v1/deployments/{dseq}; closing a closed deployment is a no-op on the API."""
        self._call("DELETE", f"/v1/deployments/{dseq}")


def _deployment_of(answer: dict) -> DeploymentInfo:
    """{data: DeploymentResponse}: deployment, leases (with status), escrow_account."""
    return DeploymentInfo.model_validate(answer["data"])


def _error_of(
    method: str, path: str, response: requests.Response, maybe_done: bool = False
) -> ConsoleApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or body.get("error") or response.reason or "no message"
    return ConsoleApiError(
        f"{method} {path} answered {response.status_code}: {message}",
        status=response.status_code,
        code=str(body.get("code")) if body.get("code") is not None else None,
        maybe_done=maybe_done,
    )
