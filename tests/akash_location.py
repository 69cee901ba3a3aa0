"""A small code location for the Akash launcher tests: one GPU-pool asset, one local asset.

The GPU asset records what its run worker saw (price, model server, no worker secret) and waits
while MOVIE_HOME/hold exists, so a test can cancel or kill it mid-run.
"""

import json
import os
import time
from pathlib import Path

import dagster as dg


@dg.asset(pool="gpu", kinds={"gpu"})
def gpu_frame(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    home = Path(os.environ["MOVIE_HOME"])
    deadline = time.monotonic() + 120
    while (home / "hold").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    seen = {
        "usd_per_hour": os.environ.get("MOVIE_GPU_USD_PER_HOUR"),
        "model_server": bool(os.environ.get("MOVIE_MODEL_SERVER_URL")),
        "has_worker_secret": "MOVIE_WORKER_SECRET" in os.environ,
        "pid": os.getpid(),
    }
    (home / f"gpu_frame-{context.run_id}.json").write_text(json.dumps(seen))
    return dg.MaterializeResult(metadata={"usd_per_hour": seen["usd_per_hour"] or "none"})


@dg.asset
def cpu_note() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


defs = dg.Definitions(
    assets=[gpu_frame, cpu_note],
    jobs=[
        dg.define_asset_job("gpu_job", selection=[gpu_frame]),
        dg.define_asset_job("cpu_job", selection=[cpu_note]),
    ],
)
