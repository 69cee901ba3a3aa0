"""An idle lease is closed by the daemon's own maintenance (the Akash launcher's maintain loop):
the deployment is deleted at the Console API, the worker stops, billing stops."""

from __future__ import annotations

import time

import pytest
from dagster import DagsterRunStatus

from gpu_jobs.leases import read_leases
from tests.test_akash_launcher import FINISHED, _wait, akash_stack

IDLE_CLOSE_S = 4


pytestmark = pytest.mark.e2e  # the Dagster daemon


def test_an_idle_lease_is_closed_by_the_daemon(tmp_path):
    with akash_stack(tmp_path, idle_close_s=IDLE_CLOSE_S) as stack:
        instance, standin = stack["instance"], stack["standin"]
        run_id = stack["submit"]("gpu_job")
        assert _wait(instance, run_id, FINISHED).status == DagsterRunStatus.SUCCESS
        (lease,) = read_leases()
        deployment = standin.deployments[lease.dseq]
        finished = time.monotonic()
        deadline = finished + IDLE_CLOSE_S + 60
        while (lease := read_leases()[0]).state != "closed":
            assert time.monotonic() < deadline, f"lease still {lease.state} after its idle time"
            time.sleep(0.5)
        # Not before its idle time: a lease in use or just used stays open.
        assert time.monotonic() - finished >= IDLE_CLOSE_S - 1
        assert lease.closed_reason and lease.closed_reason.startswith("idle for")
        assert deployment.state == "closed" and deployment.lease["state"] == "closed"
        assert deployment.worker is not None and deployment.worker.poll() is not None
        assert ("DELETE", f"/v1/deployments/{lease.dseq}") in [
            (method, path) for method, path, _ in standin.requests
        ]


def test_a_restarted_daemon_still_closes_the_idle_lease(tmp_path):
    """Leases outlive the daemon that opened them: a daemon started after them resumes their
    maintenance at once, without waiting for a GPU run to be launched."""
    with akash_stack(tmp_path, idle_close_s=IDLE_CLOSE_S) as stack:
        instance, standin = stack["instance"], stack["standin"]
        run_id = stack["submit"]("gpu_job")
        assert _wait(instance, run_id, FINISHED).status == DagsterRunStatus.SUCCESS
        stack["stop_daemon"]()
        (lease,) = read_leases()
        assert lease.state != "closed", "closed by the first daemon: nothing left to show"
        stack["start_daemon"]()
        deadline = time.monotonic() + IDLE_CLOSE_S + 90
        while (lease := read_leases()[0]).state != "closed":
            assert time.monotonic() < deadline, f"lease still {lease.state} after a restart"
            time.sleep(0.5)
        assert lease.closed_reason and lease.closed_reason.startswith("idle for")
        assert standin.deployments[lease.dseq].state == "closed"
        assert len(instance.get_runs()) == 1  # no run was needed to wake the maintenance
