"""GPU leases on Akash through the Console API: get one, keep it warm, pay for it, close it.

A lease is one deployment with one worker (gpu_jobs.worker) on a rented GPU. The manager asks
for bids on the preferred GPUs under a price ceiling, widens to the fallback order when none
come in time, accepts the cheapest bid, waits until the provider reports the worker ready,
tops up the escrow when it runs low and closes leases idle for longer than allowed. At most
`max_leases` are open at once. Money is what the Console API reports: the escrow left is
`escrow_account.state.funds`, deposits are `escrow_account.state.deposits` (each recorded once, in
USD at its first report), converted with the rates of gpu_jobs.console_api.UsdRates.

Creating a deployment is safe to retry: when the answer to a create is lost (5xx, connection
dropped), the manager asks again with the very same SDL, and then closes every other active
deployment of the account with the same manifest hash (the SDL carries the lease's random
secret, so only a create of ours can share it): one deployment and one escrow remain. The
deployment a lost answer made cannot be leased instead, because the manifest a lease needs is
only in that lost answer. Maintenance passes sweep again for such twins that show up late.

State (including each lease's worker secret) lives in
MOVIE_HOME/gpu/leases.json, readable by the owner only, shared by the daemon, the webserver and
the CLI on this machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from pydantic import BaseModel, Field

from gpu_jobs.console_api import (
    Bid,
    ConsoleApiError,
    ConsoleClient,
    CreatedDeployment,
    DeploymentInfo,
    UnknownDenom,
    UsdRates,
)
from gpu_jobs.sdl import GpuOrder, render_sdl
from gpu_jobs.signing import new_secret
from gpu_jobs.worker import SECRET_ENV
from resources.runtime.settings import movie_home
from resources.storage.store import atomic_write_bytes


class LeaseError(RuntimeError):
    """Getting or keeping a lease failed; the message says why, in the user's terms."""


class LeaseSettings(BaseModel):
    image: str = "ghcr.io/movie-build/gpu-worker:0.1.0"
    orders: list[GpuOrder] = Field(
        min_length=1,
        default_factory=lambda: [
            GpuOrder(gpu_models=["h100", "a100"], max_price_per_block=12000),
            GpuOrder(
                gpu_models=["h100", "a100", "l40s", "rtx4090", "a6000"], max_price_per_block=20000
            ),
        ],
        description="tried in turn: the first is preferred, the later ones widen the ask",
    )
    bid_timeout_s: float = Field(default=180.0, gt=0)
    ready_timeout_s: float = Field(default=600.0, gt=0)
    poll_s: float = Field(default=5.0, gt=0)
    deposit_usd: float = Field(
        default=5.0,
        ge=0.5,
        description="what a create or a top-up asks to deposit (USD); the API may fund another "
        "amount (managed deposits): what it reports is recorded",
    )
    top_up_below_usd: float = Field(default=1.0, ge=0)
    idle_close_s: float = Field(default=900.0, gt=0)
    max_leases: int = Field(default=1, ge=1)
    worker_scheme: str = Field(default="https", pattern="^https?$")
    worker_env_names: list[str] = Field(
        default_factory=list,
        description="names of variables copied from here into the lease (scoped credentials)",
    )
    akt_usd: float | None = Field(
        default=None, gt=0, description="USD per AKT (MOVIE_AKT_USD), needed for uakt amounts only"
    )

    @property
    def rates(self) -> UsdRates:
        return UsdRates(akt_usd=self.akt_usd)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LeaseSettings:
        env = dict(os.environ if env is None else env)
        values: dict = {}
        simple = {
            "MOVIE_GPU_IMAGE": "image",
            "MOVIE_GPU_BID_TIMEOUT_S": "bid_timeout_s",
            "MOVIE_GPU_READY_TIMEOUT_S": "ready_timeout_s",
            "MOVIE_GPU_POLL_S": "poll_s",
            "MOVIE_GPU_DEPOSIT_USD": "deposit_usd",
            "MOVIE_GPU_TOP_UP_BELOW_USD": "top_up_below_usd",
            "MOVIE_GPU_IDLE_CLOSE_S": "idle_close_s",
            "MOVIE_GPU_MAX_LEASES": "max_leases",
            "MOVIE_GPU_WORKER_SCHEME": "worker_scheme",
            "MOVIE_AKT_USD": "akt_usd",
        }
        values = {field: env[name] for name, field in simple.items() if env.get(name)}
        if env.get("MOVIE_GPU_WORKER_ENV"):
            values["worker_env_names"] = [
                n.strip() for n in env["MOVIE_GPU_WORKER_ENV"].split(",") if n.strip()
            ]
        if env.get("MOVIE_GPU_MODELS"):
            # "h100,a100@12000;l40s,rtx4090@20000": orders tried in turn, price per block.
            orders = []
            for part in env["MOVIE_GPU_MODELS"].split(";"):
                models, _, price = part.partition("@")
                orders.append(
                    {
                        "gpu_models": [m.strip() for m in models.split(",") if m.strip()],
                        "max_price_per_block": price.strip() or 12000,
                    }
                )
            values["orders"] = orders
        return cls.model_validate(values)


class Lease(BaseModel):
    dseq: str
    state: str = "pending"  # pending | ready | closed
    provider: str = ""
    gpu_models: list[str] = Field(default_factory=list)
    price_denom: str = ""
    price_per_block: str = ""
    usd_per_hour: float = 0.0
    worker_url: str = ""
    secret: str = Field(default="", repr=False)  # the worker's HMAC key: never in tags or logs
    created_at: float = Field(default_factory=time.time)
    ready_at: float | None = None
    closed_at: float | None = None
    closed_reason: str = ""
    last_used_at: float = Field(default_factory=time.time)
    deposited_usd: float = 0.0  # the sum of `deposits`
    deposits: dict[str, float] = Field(
        default_factory=dict, description="escrow deposits as the API reports them, USD"
    )
    escrow_usd: float | None = None  # escrow left at the last look
    manifest_hash: str = ""  # the deployment's hash (equal for deployments of the same SDL)
    lost_creates: int = 0  # create answers lost while making it: twins may show up late
    runs: list[str] = Field(default_factory=list)  # runs on it now

    def record_escrow(self, info: DeploymentInfo, rates: UsdRates) -> list[float]:
        """Take the escrow as the API reports it; returns the deposits seen for the first time."""
        new = []
        for key, usd in info.deposits_usd(rates).items():
            if key not in self.deposits:
                self.deposits[key] = usd
                new.append(usd)
        self.deposited_usd = round(sum(self.deposits.values()), 6)
        self.escrow_usd = info.escrow_usd(rates)
        self.manifest_hash = info.deployment.hash or self.manifest_hash
        return new

    def spend_usd(self, now: float | None = None) -> float:
        """Leases bill per block from the lease on, idle or not."""
        if self.ready_at is None:
            return 0.0
        end = self.closed_at or (time.time() if now is None else now)
        return self.usd_per_hour * max(0.0, end - self.ready_at) / 3600


class LeaseBook(BaseModel):
    leases: dict[str, Lease] = Field(default_factory=dict)


def state_path() -> Path:
    return movie_home() / "gpu" / "leases.json"


@contextmanager
def lease_book() -> Iterator[LeaseBook]:
    """The lease state, locked across processes for the block and saved (atomically) after."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        book = LeaseBook.model_validate_json(path.read_text()) if path.exists() else LeaseBook()
        yield book
        atomic_write_bytes(path, book.model_dump_json(indent=2).encode())
        os.chmod(path, 0o600)


def release_run(run_id: str) -> None:
    """The run no longer uses its lease (needs no API key: state only)."""
    with lease_book() as book:
        for lease in book.leases.values():
            if run_id in lease.runs:
                lease.runs.remove(run_id)
                lease.last_used_at = time.time()


def read_leases() -> list[Lease]:
    with lease_book() as book:
        return list(book.leases.values())


class LeaseManager:
    def __init__(
        self,
        client: ConsoleClient,
        settings: LeaseSettings | None = None,
        env: dict[str, str] | None = None,
        log: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.client = client
        self.settings = settings or LeaseSettings()
        self.env = dict(os.environ if env is None else env)
        self.log = log

    # ---- getting a lease ---------------------------------------------------------------
    def acquire(self, run_id: str) -> Lease:
        """A ready lease for this run: a warm one if any is alive, else a new one."""
        with FileLock(str(state_path()) + ".provision.lock"):
            for lease in self._open_leases():
                if lease.state == "ready" and self.is_alive(lease):
                    return self._assign(lease.dseq, run_id)
            if len(self._open_leases()) >= self.settings.max_leases:
                busiest = min(self._open_leases(), key=lambda lease: len(lease.runs))
                return self._assign(busiest.dseq, run_id)
            lease = self.provision()
            return self._assign(lease.dseq, run_id)

    def provision(self) -> Lease:
        """Create a deployment and lease it, widening the order when no bid comes in time."""
        secret = new_secret()
        worker_env = {
            name: self.env[name] for name in self.settings.worker_env_names if name in self.env
        } | {SECRET_ENV: secret}
        tried = []
        for order in self.settings.orders:
            sdl = render_sdl(order, self.settings.image, worker_env)
            created, lost = self._create(sdl)
            dseq = created.dseq
            with lease_book() as book:
                book.leases[dseq] = Lease(
                    dseq=dseq, gpu_models=order.gpu_models, secret=secret, lost_creates=lost
                )
            info = self.client.deployment(dseq)
            try:
                self._record(dseq, info)
            except (UnknownDenom, ValueError) as error:
                self.close(dseq, "escrow in an unknown denom")
                raise LeaseError(f"deployment {dseq}: {error}; closed it") from None
            if lost:
                self._close_twins(dseq, info.deployment.hash)
            self.log(f"deployment {dseq}: asking for {', '.join(order.gpu_models)}")
            bid = self._cheapest_bid(dseq)
            if bid is None:
                tried.append(f"{'/'.join(order.gpu_models)} at <= {order.max_price_per_block}")
                self.close(dseq, "no bids")
                continue
            return self._lease(dseq, created.manifest, bid)
        raise LeaseError(
            f"no provider bid within {self.settings.bid_timeout_s:.0f} s for "
            f"{'; then '.join(tried)} (micro units per block); deployments closed. Raise the "
            f"price ceiling or widen the GPU models (MOVIE_GPU_MODELS)"
        )

    def _create(self, sdl: str, attempts: int = 3) -> tuple[CreatedDeployment, int]:
        """Create a deployment, asking again with the same SDL when an answer is lost (never a
        blind retry inside the client). Returns it and how many answers were lost."""
        lost = 0
        while True:
            try:
                return self.client.create_deployment(sdl, self.settings.deposit_usd), lost
            except ConsoleApiError as error:
                if not error.maybe_done:
                    raise
                lost += 1
                if lost >= attempts:
                    raise LeaseError(
                        f"creating a deployment failed {lost} times ({error}); a deployment may "
                        "exist without a lease: check the Console, it closes those after a while"
                    ) from None
                self.log(
                    f"creating a deployment: {error}; asking again with the same SDL, then "
                    "closing any deployment the lost answer made"
                )
                time.sleep(self.settings.poll_s)

    def _close_twins(self, dseq: str, manifest_hash: str) -> list[str]:
        """Close the account's other active deployments of the same SDL (made by creates whose
        answer was lost; their manifest never reached us, so they cannot be leased)."""
        if not manifest_hash:
            return []
        twins = [
            listed.dseq
            for listed in self.client.list_deployments()
            if listed.deployment.hash == manifest_hash and listed.dseq != dseq
        ]
        for twin in twins:
            self.client.close(twin)  # recorded only once closed: never an open lease to assign
            with lease_book() as book:
                book.leases.setdefault(twin, Lease(dseq=twin, manifest_hash=manifest_hash))
            self._mark_closed(twin, f"duplicate of {dseq} (made by a create whose answer was lost)")
            self.log(f"deployment {twin}: closed, a duplicate of {dseq} from a lost create answer")
        return twins

    def _record(self, dseq: str, info: DeploymentInfo) -> list[float]:
        with lease_book() as book:
            return book.leases[dseq].record_escrow(info, self.settings.rates)

    def _cheapest_bid(self, dseq: str) -> Bid | None:
        deadline = time.monotonic() + self.settings.bid_timeout_s
        while True:
            bids = [bid for bid in self.client.bids(dseq) if bid.state == "open"]
            if bids:
                return min(bids, key=lambda bid: float(bid.price.amount))
            if time.monotonic() + self.settings.poll_s > deadline:
                return None
            time.sleep(self.settings.poll_s)

    def _lease(self, dseq: str, manifest: str, bid: Bid) -> Lease:
        try:
            usd_per_hour = bid.price.usd_per_hour(self.settings.rates)
        except (UnknownDenom, ValueError) as error:
            self.close(dseq, "bid in an unknown denom")
            raise LeaseError(
                f"deployment {dseq}: bid of {bid.id.provider}: {error}; closed it"
            ) from None
        try:
            info = self.client.create_lease(manifest, bid)
        except ConsoleApiError:
            self.close(dseq, "lease refused")
            raise
        with lease_book() as book:
            lease = book.leases[dseq]
            lease.provider = bid.id.provider
            lease.price_denom = bid.price.denom
            lease.price_per_block = bid.price.amount
            lease.usd_per_hour = usd_per_hour
        self._record(dseq, info)
        self.log(f"deployment {dseq}: leased from {bid.id.provider}; waiting for the worker")
        deadline = time.monotonic() + self.settings.ready_timeout_s
        while True:
            info = self.client.deployment(dseq)
            uri = _ready_uri(info)
            if uri:
                break
            if info.state == "closed" or time.monotonic() > deadline:
                why = (
                    "closed by the network"
                    if info.state == "closed"
                    else (
                        f"not ready after {self.settings.ready_timeout_s:.0f} s "
                        "(manifest not received or image not pulled)"
                    )
                )
                self.close(dseq, "never ready")
                raise LeaseError(f"lease {dseq} from {bid.id.provider}: {why}; closed it")
            time.sleep(self.settings.poll_s)
        with lease_book() as book:
            lease = book.leases[dseq]
            lease.worker_url = f"{self.settings.worker_scheme}://{uri}"
            lease.state = "ready"
            lease.ready_at = lease.last_used_at = time.time()
        self.log(f"deployment {dseq}: worker ready at {lease.worker_url}")
        return lease

    def _assign(self, dseq: str, run_id: str) -> Lease:
        with lease_book() as book:
            lease = book.leases[dseq]
            if run_id not in lease.runs:
                lease.runs.append(run_id)
            lease.last_used_at = time.time()
            return lease

    def release(self, run_id: str) -> None:
        release_run(run_id)

    def _open_leases(self) -> list[Lease]:
        return [lease for lease in read_leases() if lease.state != "closed"]

    def is_alive(self, lease: Lease) -> bool:
        """Ask the API; a lease the network closed (e.g. escrow ran out) is recorded closed."""
        info = self.client.deployment(lease.dseq)
        state = info.leases[0].state if info.leases else "closed"
        if info.state == "closed" or state != "active":
            self._mark_closed(lease.dseq, state if state != "active" else "closed by the network")
            return False
        return True

    # ---- keeping it --------------------------------------------------------------------
    def maintain(self, now: float | None = None) -> list[str]:
        """One pass: notice closed leases, top up low escrow, close idle leases. Says what.
        One process at a time: a pass another process is making now is not made twice (two
        passes could both see a low balance and both deposit)."""
        lock = FileLock(str(state_path()) + ".maintain.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return []
        try:
            return self._maintain(time.time() if now is None else now)
        finally:
            lock.release()

    def _maintain(self, now: float) -> list[str]:
        done, errors = [], []
        for lease in self._open_leases():
            if lease.lost_creates and lease.manifest_hash:
                for twin in self._close_twins(lease.dseq, lease.manifest_hash):
                    done.append(f"closed {twin} (duplicate of {lease.dseq})")
            if lease.state != "ready":
                continue
            if not lease.runs and now - lease.last_used_at > self.settings.idle_close_s:
                self.close(lease.dseq, f"idle for {now - lease.last_used_at:.0f} s")
                done.append(f"closed {lease.dseq} (idle)")
                continue
            info = self.client.deployment(lease.dseq)
            state = info.leases[0].state if info.leases else "closed"
            if info.state == "closed" or state != "active":
                self._mark_closed(lease.dseq, state)
                done.append(f"{lease.dseq} was closed by the network ({state})")
                continue
            try:
                self._record(lease.dseq, info)
                escrow = info.escrow_usd(self.settings.rates)
            except (UnknownDenom, ValueError) as error:
                errors.append(f"lease {lease.dseq}: escrow not checked: {error}")
                continue
            if escrow < self.settings.top_up_below_usd:
                after = self.client.deposit(lease.dseq, self.settings.deposit_usd)
                new = self._record(lease.dseq, after)
                left = after.escrow_usd(self.settings.rates)
                done.append(
                    f"topped up {lease.dseq}: ${escrow:.2f} left, below "
                    f"${self.settings.top_up_below_usd:.2f}; deposited ${sum(new):.2f} "
                    f"as the API reports it, escrow now ${left:.2f}"
                )
        if errors:
            raise LeaseError("; ".join(errors + done))
        return done

    def close(self, dseq: str, reason: str) -> None:
        try:
            self.client.close(dseq)
        except ConsoleApiError as error:
            if error.status != 404:
                raise
        self._mark_closed(dseq, reason)

    def close_all(self, reason: str = "closed by the user") -> list[str]:
        closed = [lease.dseq for lease in self._open_leases()]
        for dseq in closed:
            self.close(dseq, reason)
        return closed

    def _mark_closed(self, dseq: str, reason: str) -> None:
        with lease_book() as book:
            lease = book.leases.get(dseq)
            if lease is not None and lease.state != "closed":
                lease.state = "closed"
                lease.closed_at = time.time()
                lease.closed_reason = reason
                lease.runs = []


def _ready_uri(info: DeploymentInfo) -> str | None:
    for lease in info.leases:
        if lease.state != "active" or lease.status is None:  # null: provider unreachable
            continue
        for service in lease.status.services.values():
            if service.ready_replicas >= 1 and service.uris:
                return service.uris[0]
    return None
