"""GPU leases on Akash through the Console API: get one, keep it warm, pay for it, close it.

A lease is one deployment with one worker (gpu_jobs.worker) on a rented GPU. The manager asks
for bids on the preferred GPUs under a price ceiling, widens to the fallback order when none
come in time, accepts the cheapest bid, waits until the provider reports the worker ready,
tops up the escrow when it runs low and closes leases idle for longer than allowed. At most
`max_leases` are open at once. State (including each lease's worker secret) lives in
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

from gpu_jobs.console_api import Bid, ConsoleApiError, ConsoleClient, DeploymentInfo
from gpu_jobs.sdl import GpuOrder, render_sdl
from gpu_jobs.signing import new_secret
from gpu_jobs.worker import SECRET_ENV
from resources.settings import movie_home
from resources.store import atomic_write_bytes


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
    deposit_usd: float = Field(default=5.0, ge=0.5)
    top_up_below_usd: float = Field(default=1.0, ge=0)
    idle_close_s: float = Field(default=900.0, gt=0)
    max_leases: int = Field(default=1, ge=1)
    worker_scheme: str = Field(default="https", pattern="^https?$")
    worker_env_names: list[str] = Field(
        default_factory=list,
        description="names of variables copied from here into the lease (scoped credentials)",
    )
    akt_usd: float = Field(default=1.0, gt=0, description="USD per AKT, for uakt prices")

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
    deposited_usd: float = 0.0
    runs: list[str] = Field(default_factory=list)  # runs on it now

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
            created = self.client.create_deployment(sdl, self.settings.deposit_usd)
            dseq = created.dseq
            with lease_book() as book:
                book.leases[dseq] = Lease(
                    dseq=dseq,
                    gpu_models=order.gpu_models,
                    deposited_usd=self.settings.deposit_usd,
                    secret=secret,
                )
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
            self.client.create_lease(manifest, bid)
        except ConsoleApiError:
            self.close(dseq, "lease refused")
            raise
        with lease_book() as book:
            lease = book.leases[dseq]
            lease.provider = bid.id.provider
            lease.price_denom = bid.price.denom
            lease.price_per_block = bid.price.amount
            lease.usd_per_hour = bid.price.usd_per_hour(self.settings.akt_usd)
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
        done = []
        for lease in self._open_leases():
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
            if (
                info.escrow_balance is not None
                and info.escrow_balance < self.settings.top_up_below_usd
            ):
                self.client.deposit(lease.dseq, self.settings.deposit_usd)
                with lease_book() as book:
                    book.leases[lease.dseq].deposited_usd += self.settings.deposit_usd
                done.append(f"topped up {lease.dseq} by ${self.settings.deposit_usd:.2f}")
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
