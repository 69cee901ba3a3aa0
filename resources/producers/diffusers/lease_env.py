"""What the worker on a lease tells the run processes it starts, through their environment.

The worker is the only one who knows these (the model server's loopback URL, the lease's
price), and both change per lease, so they are read when a call runs, never baked into a
producer's settings (which would change its content key). Neither is a secret.
"""

from __future__ import annotations

import os

MODEL_SERVER_URL_ENV = "MOVIE_MODEL_SERVER_URL"
GPU_PRICE_ENV = "MOVIE_GPU_USD_PER_HOUR"


def model_server_url() -> str | None:
    """The lease's warm model server, when this process runs on a lease."""
    return os.environ.get(MODEL_SERVER_URL_ENV, "").strip() or None


def usd_per_hour() -> float:
    """The lease's price; 0 off a lease (a local GPU or CPU costs nothing per call)."""
    raw = os.environ.get(GPU_PRICE_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        price = float(raw)
    except ValueError:
        raise ValueError(f"{GPU_PRICE_ENV} must be a number of USD per hour, got {raw!r}") from None
    if price < 0:
        raise ValueError(f"{GPU_PRICE_ENV} must be >= 0, got {raw!r}")
    return price


def gpu_cost_usd(seconds: float) -> float:
    """What `seconds` of the lease's GPU cost at its price."""
    return seconds * usd_per_hour() / 3600
