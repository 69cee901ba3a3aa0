"""Nothing breaks the project folder: concurrent first use, hostile text, failing disks, dead
processes and flaky providers each get a clear answer, and no work is lost or paid twice."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from movie_assets.assets.producer_steps import md_escape
from tests.openai_standin import Chaos, OpenAIStandIn, movie_chat_reply
from tests.test_generate import movie_cli, movie_env, movie_in_process
from tests.warm_cli import spawn_movie

TINY = ("--duration", "10", "--images-per-segment", "1")
MARKUP = "[/x] [bold]b[/] ![t](https://host.invalid/beacon.png) <img src=x>"
CONTROLS = MARKUP + "\x1b[31m\x07\r\n"


def _spawn(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "movie_assets.cli", *args],
        env=movie_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _start(home: Path, *args: str):
    """`movie ARGS` started at once, beside others (forked from the warm process: the builds
    overlap, not the interpreters' start-up). Signal and kill tests use `_spawn`."""
    return spawn_movie(list(args), movie_env(home), new_session=True)


def _ledger(home: Path) -> list[dict]:
    path = home / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _duplicates(home: Path) -> list[tuple[str, str]]:
    counts = collections.Counter((c["asset"], c["partition"]) for c in _ledger(home))
    return [key for key, count in counts.items() if count > 1]


def _instance(home: Path) -> dg.DagsterInstance:
    from dagster._core.instance.ref import InstanceRef

    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))


def _artifacts_intact(home: Path) -> int:
    """Every stored artifact's bytes hash to its name; returns how many were checked."""
    blobs = [p for p in (home / "artifacts" / "sha256").rglob("*") if p.is_file()]
    for blob in blobs:
        assert not blob.name.startswith("."), f"a half-written file was left: {blob}"
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name.split(".")[0], blob
    return len(blobs)


# ---------------------------------------------------------------------------------------------
# Concurrency


@pytest.mark.e2e
def test_four_generates_at_once_in_a_fresh_folder_five_times(tmp_path):
    for round_number in range(5):
        home = tmp_path / f"round{round_number}" / ".movie"
        procs = [
            _start(home, "generate", f"Topic number {i}", *TINY, "--id", f"m{i}") for i in range(4)
        ]
        outcomes = [(p.wait(timeout=900), p.stderr.read()) for p in procs]
        for code, err in outcomes:
            assert code == 0, err[-2000:]
        listed = movie_cli(home, "list")
        assert listed.returncode == 0, listed.stderr
        assert all(f"m{i}" in listed.stdout for i in range(4))
        status = movie_cli(home, "status", "m0")
        assert status.returncode == 0, status.stderr[-2000:]
        assert not _duplicates(home)


@pytest.mark.e2e
def test_the_same_movie_built_twice_at_once_pays_each_call_once(tmp_path):
    home = tmp_path / ".movie"
    args = ("generate", "Twin builds", "--duration", "20", "--images-per-segment", "1")
    procs = [_start(home, *args, "--id", "twin") for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=900) == 0, proc.stderr.read()[-2000:]
    calls = _ledger(home)
    assert calls, "nothing was built"
    assert not _duplicates(home), _duplicates(home)


# ---------------------------------------------------------------------------------------------
# Hostile text


def _saved(home: Path) -> dict[str, bytes]:
    movies = home / "movies"
    return (
        {str(p): p.read_bytes() for p in movies.rglob("*") if p.is_file()}
        if movies.exists()
        else {}
    )


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("generate", CONTROLS), "prompt"),
        (("generate", "ok", "--voice", MARKUP), "voice"),
        (("generate", "ok", "--voice", "f1\n"), "voice"),
        (("generate", "ok", "--id", "abc\n"), "id"),
        (("generate", "ok", "--id", MARKUP), "id"),
        (("generate", "ok", "--music-prompt", CONTROLS), "music_prompt"),
        (("generate", "ok", "--document", MARKUP + "\n"), "documents"),
    ],
)
def test_refused_text_names_the_field_and_saves_nothing(tmp_path, monkeypatch, args, field):
    home = tmp_path / ".movie"
    done = movie_in_process(monkeypatch, home, *args)
    assert done.returncode == 2, done.stderr
    assert field in done.stderr
    assert "Traceback" not in done.stderr and "MarkupError" not in done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert _saved(home) == {}
    assert not (home / "dagster").exists() or not list((home / "dagster").rglob("*.db"))


@pytest.mark.e2e
def test_hostile_text_is_kept_literally_everywhere(tmp_path):
    home = tmp_path / ".movie"
    made = movie_cli(
        home, "generate", MARKUP + "\n", *TINY, "--id", "hostile", "--music-prompt", MARKUP
    )
    assert made.returncode == 0, made.stderr[-3000:]

    before = _saved(home)
    for edit in (
        ("--segment", "0", "--narration", CONTROLS),
        ("--segment", "0", "--voice", "m1\n"),
        ("--shot", "s00i0", "--image-prompt", CONTROLS),
    ):
        refused = movie_cli(home, "edit", "hostile", *edit)
        assert refused.returncode == 2, refused.stderr
        assert "Traceback" not in refused.stderr
    assert _saved(home) == before, "a refused edit changed the saved inputs"

    for edit in (
        ("--segment", "0", "--narration", MARKUP),
        ("--shot", "s00i0", "--image-prompt", MARKUP),
    ):
        accepted = movie_cli(home, "edit", "hostile", *edit)
        assert accepted.returncode == 0, accepted.stderr
        assert "[/x] [bold]b[/]" in accepted.stderr  # printed literally, markup and all

    rebuilt = movie_cli(home, "regenerate", "hostile")
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    listed = movie_cli(home, "list")
    assert listed.returncode == 0 and "[/x]" in listed.stdout, listed.stderr
    status = movie_cli(home, "status", "hostile")
    assert status.returncode == 0 and "[/x]" in status.stderr, status.stderr
    history = movie_cli(home, "history", "hostile", "--asset", "shot_image")
    assert history.returncode == 0 and "[/x]" in history.stdout, history.stderr

    # What the UI shows: the user's text in plain metadata verbatim, in markdown escaped.
    instance = _instance(home)
    shot = instance.get_latest_materialization_event(dg.AssetKey("shot_image"))
    assert shot is not None
    assert shot.asset_materialization.metadata["prompt"].value == MARKUP
    markdown = []
    for asset in ("image_prompts", "shot_image", "final_video", "segment_narration"):
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
        for record in records:
            for value in record.asset_materialization.metadata.values():
                if isinstance(value, dg.MarkdownMetadataValue):
                    markdown.append(value.value)
    assert markdown, "no markdown metadata to check"
    for text in markdown:
        assert "](https://host.invalid" not in text and "<img src=x>" not in text, text


def test_markdown_escape_leaves_no_link_image_or_html():
    escaped = md_escape(MARKUP + "\n# heading *em* `code` a|b")
    for raw in ("![", "](", "<img", "# heading", "*em*", "`code`", "|"):
        assert raw not in escaped.replace("\\" + raw[0], ""), raw
    assert "\n" not in escaped


def test_unknown_voice_is_refused_before_any_run(tmp_path, monkeypatch):
    home = tmp_path / ".movie"
    done = movie_in_process(monkeypatch, home, "generate", "Volcanoes", "--voice", "zz9", *TINY)
    assert done.returncode == 2
    assert "voice" in done.stderr and "zz9" in done.stderr and "f1" in done.stderr
    assert _saved(home) == {}
    assert not _ledger(home)


def test_documents_have_limits(tmp_path, monkeypatch):
    home = tmp_path / ".movie"
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    big = tmp_path / "big.md"
    big.write_bytes(b"word " * 300_000)  # 1.5 MB
    refused = movie_in_process(monkeypatch, home, "generate", "x", "--document", str(binary), *TINY)
    assert refused.returncode == 2 and "binary" in refused.stderr, refused.stderr
    too_big = movie_in_process(
        monkeypatch,
        home,
        "generate",
        "x",
        "--document",
        str(big),
        *TINY,
        extra_env={"MOVIE_MAX_DOCUMENT_MB": "1"},
    )
    assert too_big.returncode == 2 and "MOVIE_MAX_DOCUMENT_MB" in too_big.stderr, too_big.stderr
    assert _saved(home) == {}


def test_workers_must_be_at_least_one(tmp_path, monkeypatch):
    done = movie_in_process(monkeypatch, tmp_path / ".movie", "generate", "x", "--workers", "-1")
    assert done.returncode == 2 and "--workers" in done.stderr


# ---------------------------------------------------------------------------------------------
# Failing disks: a real small tmpfs where this machine lets us mount one, else an injected error


def _mount_tmpfs(target: Path, size: str, read_only: bool) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True
        ).returncode
        == 0
    )


@pytest.mark.parametrize(
    ("kind", "size", "read_only", "errno_name"),
    [("disk full", "300k", False, "ENOSPC"), ("read-only file system", "1m", True, "EROFS")],
)
def test_local_environment_failures_are_named_and_not_retried(
    tmp_path, monkeypatch, kind, size, read_only, errno_name
):
    import errno

    from movie_assets.cli.main import main as movie_command
    from resources.storage.store import LocalArtifactStore

    home = tmp_path / ".movie"
    artifacts = home / "artifacts"
    mounted = os.geteuid() == 0 and _mount_tmpfs(artifacts, size, read_only)
    if not mounted:
        code = getattr(errno, errno_name)

        def refuse(self, path, suffix):
            raise OSError(code, os.strerror(code), str(artifacts))

        monkeypatch.setattr(LocalArtifactStore, "put_file", refuse)
    monkeypatch.setenv("MOVIE_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MOVIE_LLM", "MOVIE_TTS", "MOVIE_IMAGES"):
        monkeypatch.delenv(name, raising=False)
    try:
        result = CliRunner().invoke(movie_command, ["generate", "Volcanoes", *TINY, "--id", "disk"])
    finally:
        if mounted:
            subprocess.run(["umount", str(artifacts)], check=False)
    output = " ".join(result.output.split())  # Rich wraps long lines
    assert result.exit_code == 1, output
    assert f"local environment: {kind}" in output, output
    assert "Exceeded max_retries" not in output and "Traceback" not in output
    assert "movie.log" in output
    assert "OSError" in (home / "logs" / "movie.log").read_text()  # the trace is in the log
    instance = _instance(home)
    failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert failed
    for run in failed:
        events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
        assert not events, "a local-environment failure was retried"


# ---------------------------------------------------------------------------------------------
# Dead processes


def test_a_killed_but_unreaped_process_counts_as_dead():
    from resources.runtime.processes import process_alive

    child = subprocess.Popen(["sleep", "30"])
    assert process_alive(child.pid)
    child.kill()
    deadline = time.monotonic() + 10
    while process_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child.pid), "a zombie (killed, not yet waited for) looked alive"
    child.wait()


def test_a_dead_run_gives_back_its_gpu_pool_slot(tmp_path, monkeypatch):
    """A step killed inside the `gpu` pool holds its slot in the instance; reaping its run must
    free it, or every later GPU step waits for it forever (seen in CI as a resume that hung)."""
    from movie_assets.orchestration.builder import prepare_instance, reap_dead_runs
    from resources.runtime.processes import WORKER_TAG, process_token

    monkeypatch.setenv("MOVIE_HOME", str(tmp_path / ".movie"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    instance = prepare_instance()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from resources.runtime.processes import process_token; print(process_token())",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    dead_token = child.communicate()[0].strip()
    assert dead_token and dead_token != process_token()
    storage = instance.event_log_storage
    storage.set_concurrency_slots("gpu", 2)
    run = instance.create_run_for_job(
        dg.JobDefinition(graph_def=dg.GraphDefinition(name="render_segments")),
        tags={WORKER_TAG: dead_token},
    )
    instance.handle_run_event(
        run.run_id,
        dg.DagsterEvent(
            event_type_value="PIPELINE_START", job_name=run.job_name, message="started"
        ),
    )
    assert storage.claim_concurrency_slot("gpu", run.run_id, "segment_clip").is_claimed
    assert run.run_id in storage.get_concurrency_run_ids()

    assert reap_dead_runs(instance) == [run.run_id]
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
    assert run.run_id not in storage.get_concurrency_run_ids()


@pytest.mark.e2e
def test_kill_9_mid_build_is_reported_and_resumed_without_paying_twice(tmp_path):
    home = tmp_path / ".movie"
    args = ("generate", "Kill me softly", "--duration", "30", "--images-per-segment", "1")
    proc = _spawn(home, *args, "--id", "killed")
    deadline = time.monotonic() + 600
    started = []
    while time.monotonic() < deadline and not started:
        time.sleep(0.3)
        assert proc.poll() is None, "the build finished before it could be killed"
        if not (home / "dagster" / ".movie-initialised").exists():
            continue
        runs = _instance(home).get_runs(
            filters=dg.RunsFilter(
                statuses=[dg.DagsterRunStatus.STARTED], tags={"movie/level": "render_segments"}
            )
        )
        started = [run.run_id for run in runs]
    assert started, "no render run started in time"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    paid_before_kill = _ledger(home)

    status = movie_cli(home, "status", "killed")
    assert status.returncode == 0, status.stderr[-2000:]
    assert "process died" in status.stderr
    instance = _instance(home)
    active = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    assert not instance.get_runs(filters=dg.RunsFilter(statuses=active))
    for run_id in started:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    # The killed render steps' `gpu` pool slots are given back, or the resume would wait forever.
    assert not instance.event_log_storage.get_concurrency_run_ids() & set(started)
    assert not list((home / "scratch").iterdir())

    resumed = movie_cli(home, *args, "--id", "killed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    paid = _ledger(home)
    # What was paid before the kill stays on the ledger as it was; the resume paid the rest of
    # the plan (3 segments, 1 image each) and nothing twice.
    assert paid[: len(paid_before_kill)] == paid_before_kill
    assert collections.Counter(c["asset"] for c in paid) == {
        "research": 1,
        "script": 1,
        "music_prompt": 1,
        "music_track": 1,
        "narration_audio": 3,
        "image_prompts": 3,
        "shot_image": 3,
    }, collections.Counter(c["asset"] for c in paid)
    assert not _duplicates(home), _duplicates(home)
    _artifacts_intact(home)


# ---------------------------------------------------------------------------------------------
# A flaky provider


@pytest.mark.e2e
def test_a_flaky_provider_does_not_stop_a_movie_or_corrupt_it(tmp_path):
    home = tmp_path / ".movie"
    chaos = Chaos(rate=0.3, stall_s=3.0)
    with OpenAIStandIn(chat_reply=movie_chat_reply) as api:
        api.chaos = chaos
        done = movie_cli(
            home,
            "generate",
            "Volcanoes under stress",
            "--duration",
            "30",  # about 15 requests: at 30 %, four kinds of failure in turn
            "--images-per-segment",
            "1",
            "--id",
            "flaky",
            extra_env={
                "OPENAI_API_KEY": "sk-test-flaky",
                "OPENAI_BASE_URL": api.base_url,
                "MOVIE_LLM_TIMEOUT_S": "1.5",
                "MOVIE_TTS_TIMEOUT_S": "1.5",
                "MOVIE_IMAGES_TIMEOUT_S": "1.5",
            },
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(chaos.injected) >= 4, f"too few kinds of failure were met: {chaos.injected}"
    assert Path(done.stdout.strip().splitlines()[-1]).exists()
    assert not _duplicates(home), _duplicates(home)
    assert {c["asset"] for c in _ledger(home)} >= {"research", "script", "shot_image"}
    assert _artifacts_intact(home) > 5
    for log in (home / "logs").glob("*.log"):
        assert "sk-test-flaky" not in log.read_text(errors="replace")
