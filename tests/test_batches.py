"""Batch files, feeds, budgets, the inbox sensor and the schedules, without building movies."""

from __future__ import annotations

import datetime
import http.server
import os
import shutil
import threading
import time
from functools import partial
from pathlib import Path

import dagster as dg
import pytest

from resources.domain.batch_files import BatchFileError, load_batch

RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Science &amp; Things</title>
<link>https://news.example.org/</link><description>d</description>
<item><title>Comet seen over Athens</title><link>https://news.example.org/comet</link>
<description>&lt;p&gt;A bright comet was seen over Athens on Monday night by many people.&lt;/p&gt;
</description><pubDate>Mon, 06 Jan 2025 07:00:00 GMT</pubDate></item>
<item><title>New bridge opens</title><link>https://news.example.org/bridge</link>
<description>The bridge links two islands.</description></item>
</channel></rss>
"""


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    movie_home = tmp_path / ".movie"
    monkeypatch.setenv("MOVIE_HOME", str(movie_home))
    monkeypatch.setenv("DAGSTER_HOME", str(movie_home / "dagster"))
    monkeypatch.delenv("MOVIE_BATCH_INBOX", raising=False)
    return movie_home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


GOOD_AND_BAD = """\
name: morning
budget_usd: 0.5
defaults:
  duration_s: 10
  images_per_segment: 1
movies:
  - prompt: How bees make honey
    id: bees
  - prompt: Why the sky is blue
    duration_s: 25
  - {prompt: How tides work, style: watercolor, duration: 20}
  - prompt: "   "
  - prompt: Volcanoes
    colour: red
  - {prompt: Again bees, id: bees}
  - just a string
"""


def test_yaml_rows_are_validated_like_generate_and_bad_rows_name_line_and_field(home, tmp_path):
    batch = load_batch(write(tmp_path / "b.yaml", GOOD_AND_BAD))
    assert batch.name == "morning" and batch.budget_usd == 0.5
    assert [m.line for m in batch.movies] == [7, 11]
    bees, tides = batch.movies
    assert bees.resolved_id() == "bees" and bees.request.duration_s == 10
    # CLI option names are accepted for the request fields they stand for.
    assert tides.request.image_style.value == "watercolor" and tides.request.duration_s == 20
    problems = {(r.line, r.field) for r in batch.rejected}
    assert problems == {(10, "duration_s"), (12, "prompt"), (14, "colour"), (15, "id"), (16, "row")}
    by_field = {r.field: r.message for r in batch.rejected}
    assert "multiple of 10" in by_field["duration_s"]
    assert "already in line 7" in by_field["id"]
    assert "unknown field" in by_field["colour"]
    assert len(batch.sha256) == 64


def test_csv_batch_with_header_comments(home, tmp_path):
    doc = write(tmp_path / "notes.txt", "Honey bees dance to tell others where flowers are.\n")
    text = (
        "# name: lessons\n# budget_usd: 2\n"
        "prompt,duration_s,images_per_segment,voice,documents\n"
        f"Bees,10,1,,{doc.name}\n"
        "Tides,15,1,,\n"
        "Clouds,10,1,nobody,\n"
        "Rain,10,9,,\n"
    )
    batch = load_batch(write(tmp_path / "week.csv", text), context={"voices": ["f1", "m1"]})
    assert batch.name == "lessons" and batch.budget_usd == 2
    assert [m.line for m in batch.movies] == [4]
    assert batch.movies[0].request.documents == [str(doc.resolve())]
    assert [(r.line, r.field) for r in batch.rejected] == [
        (5, "duration_s"),
        (6, "voice"),
        (7, "images_per_segment"),
    ]
    assert "unknown voice 'nobody'" in batch.rejected[1].message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nmovies: [\n", "line 3: not valid YAML"),
        ("movies: 3\n", "movies: must be a list"),
        ("name: Bad Name\nmovies: [{prompt: a}]\n", "name:"),
        ("name: nightly-stale\nmovies: [{prompt: a}]\n", "reserved"),
        ("name: x\nmovies: []\n", "no movies"),
        ("name: x\nschedule: {cron: 'at 7'}\nmovies: [{prompt: a}]\n", "cron expression"),
        (
            "name: x\nschedule: {cron: '0 7 * * *', timezone: Mars/Base}\nmovies: [{prompt: a}]\n",
            "IANA time zone",
        ),
        ("name: x\ndefaults: {colour: red}\nmovies: [{prompt: a}]\n", "defaults: unknown"),
    ],
)
def test_a_file_that_is_not_a_batch_is_refused_with_the_reason(home, tmp_path, text, needle):
    with pytest.raises(BatchFileError, match=None) as raised:
        load_batch(write(tmp_path / "b.yaml", text))
    assert needle in str(raised.value)


@pytest.fixture
def feed_server(tmp_path):
    root = tmp_path / "site"
    write(root / "feed.xml", RSS)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_feed_entry_becomes_the_topic_and_its_link_the_research_source(
    home, tmp_path, feed_server
):
    from movie_assets.orchestration.batch_runs import resolve_row
    from resources.domain.documents import read_documents
    from resources.domain.feeds import FeedError, feed_entry, read_feed
    from resources.producers.text.language_models import OfflineWriter
    from resources.storage.projects import ProjectStore

    entries = read_feed(f"{feed_server}/feed.xml")
    assert [e.title for e in entries] == ["Comet seen over Athens", "New bridge opens"]
    assert entries[0].summary.startswith("A bright comet")  # HTML stripped
    with pytest.raises(FeedError, match="entry 5"):
        feed_entry(f"{feed_server}/feed.xml", 5)
    with pytest.raises(FeedError, match="HTTP 404"):
        read_feed(f"{feed_server}/missing.xml")

    batch = load_batch(
        write(
            tmp_path / "news.yaml",
            f"name: news\nmovies:\n  - feed: {feed_server}/feed.xml\n"
            "    prompt: 'Today: {title}'\n    duration_s: 10\n",
        )
    )
    movie_id = resolve_row(batch.movies[0], batch.name)
    inputs = ProjectStore().load(movie_id)
    assert inputs.request.prompt == "Today: Comet seen over Athens"
    research, _ = OfflineWriter().research(inputs.request, read_documents(inputs.request.documents))
    assert "https://news.example.org/comet" in [s.uri for s in research.sources]
    assert any("comet" in fact.text.lower() for fact in research.facts)
    # The same entry read again is the same movie.
    assert resolve_row(batch.movies[0], batch.name) == movie_id
    # A local feed file is found relative to the batch file; feed_entry picks another entry.
    local = load_batch(
        write(
            tmp_path / "local.yaml",
            "name: local\nmovies:\n  - {feed: site/feed.xml, feed_entry: 1, duration_s: 10}\n",
        )
    )
    assert local.movies[0].feed.url == str(tmp_path / "site" / "feed.xml")
    other = ProjectStore().load(resolve_row(local.movies[0], local.name))
    assert other.request.prompt == "New bridge opens"


def test_estimates_use_declared_prices_and_the_ledger_decides_what_is_spent(home):
    from resources.domain.budget import Budget, estimate_usd
    from resources.domain.models import ProducerCall
    from resources.producers.images.openai_images import OpenAIImages
    from resources.producers.images.painter import OfflineArtist
    from resources.storage.ledger import record_call

    pending = {"shot_image": {"a|s00i0": "missing", "a|s01i0": "missing"}, "final_video": {}}
    paid = OpenAIImages(api_key="k", price_per_image_usd=0.04)
    assert estimate_usd(pending, {"images": paid}) == pytest.approx(0.08)
    assert estimate_usd(pending, {"images": OfflineArtist()}) == 0.0

    budget = Budget(batch_usd=0.1, daily_usd=0.2)
    assert budget.refusal(0.08, {"a"}) is None
    record_call(
        movie_id="a",
        asset="shot_image",
        partition="a|s00i0",
        call=ProducerCall(provider="openai", model="m", estimated_cost_usd=0.05),
    )
    refusal = budget.refusal(0.08, {"a"})
    assert refusal and "over the batch budget" in refusal and "$0.0500 of $0.10" in refusal
    # Spending by other movies counts against the day, not against this batch.
    assert budget.refusal(0.04, {"b"}) is None
    assert "daily budget" in (Budget(daily_usd=0.06).refusal(0.04, {"b"}) or "")
    assert Budget(batch_usd=0.1, started=time.time() + 60).refusal(0.08, {"a"}) is None


def _sensor_result(cursor: str | None, instance):
    from movie_assets.assets.batches import batch_inbox

    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return batch_inbox(context)


def test_the_inbox_sensor_queues_new_files_once_by_content(home, tmp_path):
    from movie_assets.assets.batches import BATCH_SHA_TAG
    from movie_assets.orchestration.builder import prepare_instance
    from resources.domain.batch_files import BatchStore
    from resources.storage.projects import ProjectStore

    instance = prepare_instance()
    inbox = home / "batches" / "inbox"
    dropped = write(inbox / "morning.yaml", GOOD_AND_BAD)
    write(inbox / "broken.yaml", "name: x\nmovies: [\n")
    write(inbox / "notes.txt", "not a batch file")
    old = time.time() - 10
    for path in inbox.iterdir():
        os.utime(path, (old, old))

    result = _sensor_result(None, instance)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.partition_key == "morning"
    assert request.tags[BATCH_SHA_TAG] == load_batch(dropped).sha256
    assert instance.get_dynamic_partitions("batch") == ["morning"]
    assert set(instance.get_dynamic_partitions("movie")) == set(ProjectStore().list_ids())
    assert len(ProjectStore().list_ids()) == 2 and "bees" in ProjectStore().list_ids()
    assert BatchStore().load("morning").rejected  # kept for the report
    rejected = list((home / "batches" / "rejected").iterdir())
    assert len(rejected) == 1 and "not valid YAML" in rejected[0].read_text()

    # The same bytes under another name, and the same files again: nothing new.
    shutil.copy(dropped, inbox / "morning-again.yaml")
    os.utime(inbox / "morning-again.yaml", (old, old))
    again = _sensor_result(result.cursor, instance)
    assert not again.run_requests
    # A changed file is a new version of the batch.
    write(inbox / "morning.yaml", GOOD_AND_BAD.replace("budget_usd: 0.5", "budget_usd: 0.7"))
    os.utime(inbox / "morning.yaml", (old, old))
    changed = _sensor_result(again.cursor, instance)
    assert [r.partition_key for r in changed.run_requests] == ["morning"]
    assert BatchStore().load("morning").budget_usd == 0.7


SCHEDULED = """\
name: daily-lesson
schedule: {cron: "0 7 * * *", timezone: Europe/Athens}
defaults: {duration_s: 10, images_per_segment: 1}
movies:
  - {prompt: How bees make honey, id: bees}
"""


def test_scheduled_batches_and_the_nightly_rebuild_start_stopped_and_tick_into_runs(home):
    from movie_assets.assets.batches import BATCH_SHA_TAG, NIGHTLY
    from movie_assets.orchestration.builder import prepare_instance
    from movie_assets.schedules import rebuild_stale_nightly, scheduled_batches

    instance = prepare_instance()
    write(home / "batches" / "scheduled" / "lesson.yaml", SCHEDULED)
    write(home / "batches" / "scheduled" / "broken.yaml", "name: [\n")
    (schedule,) = scheduled_batches()
    assert schedule.name == "batch_daily_lesson"
    assert schedule.cron_schedule == "0 7 * * *"
    assert schedule.execution_timezone == "Europe/Athens"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert rebuild_stale_nightly.default_status == dg.DefaultScheduleStatus.STOPPED

    from movie_assets.definitions import defs

    repository = defs.get_repository_def()
    tick = datetime.datetime(2025, 1, 6, 7, 0, tzinfo=datetime.UTC)
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick, repository_def=repository
    )
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "daily-lesson"
    assert request.run_key == "daily-lesson-20250106T0700"
    assert len(request.tags[BATCH_SHA_TAG]) == 64
    assert "bees" in instance.get_dynamic_partitions("movie")

    nightly = rebuild_stale_nightly.evaluate_tick(
        dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick, repository_def=repository
        )
    ).run_requests[0]
    assert nightly.partition_key == NIGHTLY
    assert NIGHTLY in instance.get_dynamic_partitions("batch")


def test_definitions_hold_the_batch_parts_and_never_import_torch(home):
    import subprocess
    import sys

    code = (
        "import sys; from movie_assets.definitions import defs;"
        "print(sorted(s.name for s in defs.sensors), sorted(s.name for s in defs.schedules),"
        "defs.resolve_job_def('build_batch').name, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == (
        "['batch_inbox', 'regenerate_stale_partitions'] ['rebuild_stale_nightly'] build_batch False"
    )


def test_the_example_batch_files_are_valid(home):
    from movie_assets.assets.batches import validation_context

    examples = sorted((Path(__file__).resolve().parent.parent / "examples").iterdir())
    batches = [load_batch(path, context=validation_context()) for path in examples]
    assert len(batches) >= 3
    assert all(b.movies and not b.rejected for b in batches)
    assert any(b.schedule for b in batches) and any(m.feed for b in batches for m in b.movies)
