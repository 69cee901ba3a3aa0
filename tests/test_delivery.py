"""Delivery (the published MP4 follows the newest final video, atomically) and previews (the
loopback artifact server the UI links to)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from movie_assets.assets.previews import preview_metadata, preview_url
from movie_assets.orchestration.delivery import (
    current_umask,
    publish,
    published_object,
    published_path,
    published_url,
)
from resources.storage.artifact_server import ArtifactServer
from resources.storage.store import LocalArtifactStore


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIE_HOME", str(tmp_path / ".movie"))
    return tmp_path / ".movie"


def test_publish_links_the_new_video_in_one_swap(home, tmp_path):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.write_bytes(b"first movie")
    second.write_bytes(b"second movie")
    target = publish(first, "bees")
    assert target == published_path("bees") == home / "out" / "bees.mp4"
    assert os.path.samefile(target, first)  # a hard link, no copy
    with open(target, "rb") as playing:  # a player holding the old file keeps its bytes
        publish(second, "bees")
        assert playing.read() == b"first movie"
    assert target.read_bytes() == b"second movie"
    publish(second, "bees")  # publishing the same video again leaves no staging file behind
    assert sorted(p.name for p in target.parent.iterdir()) == ["bees.mp4"]


def test_published_file_is_readable_as_the_umask_says(home, tmp_path):
    source = tmp_path / "private.mp4"
    source.write_bytes(b"movie")
    source.chmod(0o600)  # like the store's files (mkstemp)
    saved = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        target = publish(source, "bees")
        assert target.stat().st_mode & 0o777 == 0o640  # the group may read it, others not
        os.umask(0o022)
        again = tmp_path / "other.mp4"
        again.write_bytes(b"movie 2")
        assert publish(again, "bees").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(saved)


def test_local_url_is_the_published_file(home, tmp_path):
    store = LocalArtifactStore()
    assert published_object(store, "bees") is None  # no bucket locally
    assert published_url(store, "bees", 60) is None  # nothing published yet
    source = tmp_path / "a.mp4"
    source.write_bytes(b"movie")
    publish(source, "bees")
    assert published_url(store, "bees", 60) == str(home / "out" / "bees.mp4")
    for bad in (0, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError, match="expires: must be from 1 to 604800"):
            published_url(store, "bees", bad)


def test_a_local_project_needs_no_production_extra(home):
    # `pip install -e .` has no botocore: `movie status` asks for the published object anyway.
    # A fresh interpreter, so no earlier test has imported the S3 store already.
    code = (
        "import sys; sys.modules['botocore'] = None\n"
        "from movie_assets.orchestration.delivery import published_object, published_url\n"
        "from resources.storage.store import LocalArtifactStore\n"
        "store = LocalArtifactStore()\n"
        "print(published_object(store, 'bees'), published_url(store, 'bees', 60))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["None", "None"]


def test_artifact_server_serves_stored_files_with_ranges_and_nothing_else(home, tmp_path):
    store = LocalArtifactStore()
    ref = store.put_bytes(bytes(range(256)) * 4, ".mp4")
    with ArtifactServer(home / "artifacts", 0) as server:
        base = f"http://127.0.0.1:{server.port}"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MOVIE_PREVIEW_URL", base)
            url = preview_url(ref)
        with urllib.request.urlopen(url) as response:
            assert response.headers["Content-Type"] == "video/mp4"
            assert response.read() == bytes(range(256)) * 4
        ranged = urllib.request.Request(url, headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(ranged) as response:
            assert response.status == 206
            assert response.headers["Content-Range"] == "bytes 10-19/1024"
            assert response.read() == bytes(range(10, 20))
        for bad in ("/artifacts/../keys", f"/artifacts/{ref.sha256}", "/etc/passwd", "/"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + bad)
            assert refused.value.code == 404


def test_preview_links_are_http_and_images_get_an_inline_preview(home, monkeypatch):
    monkeypatch.setenv("MOVIE_PREVIEW_URL", "http://127.0.0.1:4555/")
    image = LocalArtifactStore().put_bytes(b"png bytes", ".png")
    metadata = preview_metadata(image)
    assert metadata["view"].value == f"http://127.0.0.1:4555/artifacts/{image.sha256}.png"
    assert f"]({metadata['view'].value})" in metadata["preview"].value
    audio = LocalArtifactStore().put_bytes(b"wav bytes", ".wav")
    assert set(preview_metadata(audio)) == {"view"}
    monkeypatch.setenv("MOVIE_PREVIEW_URL", "file:///tmp")
    with pytest.raises(ValueError, match="MOVIE_PREVIEW_URL must be an http"):
        preview_url(image)
