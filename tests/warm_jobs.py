"""A job for tests/test_warm_runs.py. The run forker imports this module once; a line in the
file named by WARM_RUNS_IMPORTS records each process that imports it."""

import json
import os
import time
from pathlib import Path

import dagster as dg

IMPORTS_ENV = "WARM_RUNS_IMPORTS"
if os.environ.get(IMPORTS_ENV):
    with open(os.environ[IMPORTS_ENV], "a") as imports:
        imports.write(f"{os.getpid()}\n")


@dg.op(config_schema={"out": str, "sleep_s": float})
def report_process(context: dg.OpExecutionContext) -> None:
    """Say which process runs the op and what it can see, then wait as long as asked."""
    report = {
        "pid": os.getpid(),
        "api_key": os.environ.get("AKASH_CONSOLE_API_KEY"),
        "probe": os.environ.get("WARM_RUNS_PROBE"),
    }
    Path(context.op_config["out"]).write_text(json.dumps(report))
    time.sleep(context.op_config["sleep_s"])


@dg.job(executor_def=dg.in_process_executor)  # the op runs in the run process itself
def report_job() -> None:
    report_process()
