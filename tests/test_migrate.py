"""`movie export` in a local project, `movie import` into production mode on real PostgreSQL and
real SeaweedFS: the movie arrives built (status, history, no rebuild, no provider call), and a
bad archive is refused with one line and nothing written."""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest

from tests.servers import new_bucket, s3_env
from tests.test_generate import movie_cli

MOVIE = ("--duration", "20", "--images-per-segment", "1")
SHOT_EDIT = ("--shot", "s01i0", "--image-prompt", "A bee on a sunflower, close up")


pytestmark = pytest.mark.e2e  # PostgreSQL and SeaweedFS


def _ok(home: Path, *args: str, env: dict | None = None):
    done = movie_cli(home, *args, extra_env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _ledger(home: Path) -> list[str]:
    path = home / "ledger.jsonl"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A local movie with two revisions of one shot, exported."""
    home = tmp_path_factory.mktemp("local") / ".movie"
    _ok(home, "generate", "How bees dance", *MOVIE, "--id", "bees")
    _ok(home, "edit", "bees", *SHOT_EDIT)
    _ok(home, "regenerate", "bees")
    archive = home.parent / "bees.tar"
    done = _ok(home, "export", "bees", "--to", str(archive))
    assert "bees:" in done.stdout + done.stderr
    return home, archive


@pytest.fixture
def production(postgres, seaweedfs, tmp_path):
    """An empty production project: its own database and bucket."""
    bucket = new_bucket(seaweedfs)
    env = {
        "MOVIE_MODE": "production",
        "MOVIE_PG_URL": postgres.create_database(f"import_{uuid.uuid4().hex[:10]}"),
        **s3_env(seaweedfs, bucket),
    }
    return tmp_path / ".movie", env, seaweedfs.client(), bucket


def _bucket_keys(client, bucket: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _status_rows(output: str) -> dict[str, list[str]]:
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) >= 6 and cells[2].isdigit():
            rows[cells[0]] = cells
    return rows


def test_a_local_movie_imported_into_production_is_built_with_its_history(exported, production):
    local, archive = exported
    home, env, client, bucket = production
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    done = _ok(home, "import", str(archive), env=env)
    assert f"{len(manifest['blobs'])} artifacts uploaded" in done.stdout + done.stderr

    # Every artifact of every revision is in the bucket under its content hash.
    keys = _bucket_keys(client, bucket)
    for blob in manifest["blobs"]:
        key = f"sha256/{blob['sha256'][:2]}/{blob['sha256']}{blob['suffix']}"
        assert key in keys
        assert client.head_object(Bucket=bucket, Key=key)["Metadata"]["sha256"] == blob["sha256"]
    assert not (home / "artifacts").exists()

    # Built, as Dagster sees it: every planned partition fresh, none stale or missing.
    status = _ok(home, "status", "bees", env={**env, "COLUMNS": "200"})
    rows = _status_rows(status.stdout + status.stderr)
    assert {"final_video", "shot_image", "narration_audio", "timeline"} <= set(rows)
    for asset, (_, _, planned, fresh, stale, missing, *_) in rows.items():
        assert (fresh, stale, missing) == (planned, "0", "0"), (asset, rows[asset])
    # The history came along: two revisions of the edited shot, with why the second was made.
    shown = _ok(home, "history", "bees", "--asset", "shot_image", "--partition", "s01i0", env=env)
    table = [line for line in shown.stdout.splitlines() if "s01i0" in line]
    assert len(table) == 2 and "shot_input" in table[1]
    # Inputs, edits and the ledger came along; regenerating calls no provider.
    assert _ledger(home) == _ledger(local)
    assert (home / "movies" / "bees" / "edits.jsonl").read_text().count("\n") == 3
    again = _ok(home, "regenerate", "bees", env=env)
    assert "up to date" in again.stderr
    assert _ledger(home) == _ledger(local)
    assert Path(again.stdout.strip().splitlines()[-1]).stat().st_size > 50_000  # published

    # A second import of the same movie is refused; nothing is recorded twice.
    twice = movie_cli(home, "import", str(archive), extra_env=env)
    assert twice.returncode == 2 and "already in this instance" in twice.stderr
    assert len(_ledger(home)) == len(_ledger(local))


def _tampered(archive: Path, target: Path) -> Path:
    """A copy of `archive` with one byte of one artifact changed."""
    with tarfile.open(archive) as src, tarfile.open(target, "w") as out:
        changed = False
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.startswith("blobs/") and not changed:
                data, changed = bytes([data[0] ^ 1]) + data[1:], True
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


def test_a_bad_archive_is_refused_with_one_line_and_nothing_written(
    exported, production, tmp_path
):
    _, archive = exported
    home, env, client, bucket = production
    not_tar = tmp_path / "notes.tar"
    not_tar.write_text("just some text\n")
    escaping = tmp_path / "escape.tar"
    with tarfile.open(escaping, "w") as out:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        out.addfile(info, io.BytesIO(b"hi"))
    cases = {
        _tampered(archive, tmp_path / "tampered.tar"): "do not match the manifest's sha256",
        not_tar: "not a readable tar archive",
        escaping: "only plain files with relative names",
    }
    for bad, reason in cases.items():
        done = movie_cli(home, "import", str(bad), extra_env={**env, "COLUMNS": "300"})
        assert done.returncode == 2, done.stderr[-2000:]
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: invalid archive"), lines
        assert reason in lines[0] and "nothing was imported" in lines[0]
    assert _bucket_keys(client, bucket) == set()
    assert not (home / "movies").exists() and not (home / "ledger.jsonl").exists()
    assert not (tmp_path / "outside.txt").exists()
    # The local project is not a production one: import says what to set.
    local = movie_cli(home, "import", str(archive))
    assert local.returncode == 2 and "MOVIE_MODE=production" in local.stderr
