"""`movie gpu up | status | down`: the GPU leases on Akash that GPU runs execute on.

The Console API key comes from AKASH_CONSOLE_API_KEY only; lease settings from MOVIE_GPU_*
(see gpu_jobs.leases.LeaseSettings). Helpers of movie_assets.cli.main are imported inside the
commands because cli.py imports this module at its end.
"""

from __future__ import annotations

import time

import click
from rich.markup import escape
from rich.table import Table

from movie_assets.cli.terminal import console, fail


def _manager():
    from gpu_jobs.console_api import ConsoleClient
    from gpu_jobs.leases import LeaseManager, LeaseSettings

    try:
        client = ConsoleClient.from_env()
        settings = LeaseSettings.from_env()
    except ValueError as error:
        fail(escape(str(error)))
    return LeaseManager(client, settings, log=lambda line: console.print(escape(line)))


@click.group()
def gpu() -> None:
    """GPU leases on Akash: start one ahead of a run, see what they cost, close them."""


@gpu.command()
def up() -> None:
    """Make sure a GPU lease is ready (starts one if none is open) and print it."""
    from gpu_jobs.console_api import ConsoleApiError
    from gpu_jobs.leases import LeaseError, read_leases

    manager = _manager()
    try:
        warm = [lease for lease in read_leases() if lease.state == "ready"]
        lease = warm[0] if warm and manager.is_alive(warm[0]) else manager.provision()
    except (LeaseError, ConsoleApiError) as error:
        fail(escape(str(error)), code=1)
    console.print(
        f"lease [bold]{lease.dseq}[/] ready: {escape(lease.provider)} "
        f"({escape('/'.join(lease.gpu_models))}), ${lease.usd_per_hour:.3f}/h, "
        f"worker {escape(lease.worker_url)}"
    )


@gpu.command()
@click.option("--refresh", is_flag=True, help="Ask the API first: top up, close idle leases.")
@click.option("--all", "show_all", is_flag=True, help="Include closed leases.")
def status(refresh: bool, show_all: bool) -> None:
    """Leases: dseq, provider, GPU, price, uptime, spend so far, escrow, runs on it."""
    from rich.console import Console

    from gpu_jobs.leases import read_leases

    if refresh:
        for line in _manager().maintain():
            console.print(escape(line))
    leases = [lease for lease in read_leases() if show_all or lease.state != "closed"]
    if not leases:
        console.print("no open GPU leases (start one with `movie gpu up`)")
        return
    table = Table(title="GPU leases")
    columns = ("dseq", "state", "provider", "GPU", "$/hour", "uptime", "spend", "escrow", "runs")
    for column in columns:
        table.add_column(column)
    now = time.time()
    for lease in leases:
        uptime = ((lease.closed_at or now) - lease.ready_at) if lease.ready_at else 0.0
        state = lease.state + (f" ({lease.closed_reason})" if lease.closed_reason else "")
        table.add_row(
            lease.dseq,
            escape(state),
            escape(lease.provider or "-"),
            escape("/".join(lease.gpu_models)),
            f"{lease.usd_per_hour:.3f}",
            f"{uptime / 60:.1f} min",
            f"${lease.spend_usd(now):.4f}",
            # left / deposited, as the Console API last reported them
            "-"
            if lease.escrow_usd is None
            else f"${lease.escrow_usd:.2f} / ${lease.deposited_usd:.2f}",
            str(len(lease.runs)),
        )
    Console(width=160).print(table)  # keep provider addresses on one line


@gpu.command()
@click.argument("dseq", required=False)
def down(dseq: str | None) -> None:
    """Close one lease (DSEQ) or all open ones; billing stops at once."""
    from gpu_jobs.console_api import ConsoleApiError
    from gpu_jobs.leases import read_leases

    manager = _manager()
    try:
        if dseq is None:
            closed = manager.close_all()
        elif any(lease.dseq == dseq and lease.state != "closed" for lease in read_leases()):
            manager.close(dseq, "closed by the user")
            closed = [dseq]
        else:
            fail(f"dseq: no open lease {escape(dseq)!r} (see `movie gpu status`)")
    except ConsoleApiError as error:
        fail(escape(str(error)), code=1)
    console.print(f"closed {len(closed)} lease(s): {', '.join(closed) or '-'}")


def print_cost_by_asset(calls: list[dict]) -> None:
    """One line per asset that paid for calls (for `movie status`): calls, cost, GPU seconds.

    The GPU seconds and their cost are those the diffusers producers recorded per partition:
    on an Akash lease each call's share of the lease's price."""
    by_asset: dict[str, list[dict]] = {}
    for call in calls:
        by_asset.setdefault(call["asset"], []).append(call)
    for asset, paid in by_asset.items():
        gpu = [c["gpu_seconds"] for c in paid if c.get("gpu_seconds") is not None]
        cost = sum(c["estimated_cost_usd"] for c in paid)
        line = f"  {escape(asset)}: {len(paid)} calls, ${cost:.4f}"
        if gpu:
            line += f", {sum(gpu):.1f} GPU s (${cost / len(paid):.4f} per call)"
        console.print(line)
