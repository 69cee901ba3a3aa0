"""Previews the UI can show whole: the artifact server scales images into a thumbnail box, and
the metadata's inline image is that thumbnail, linking to the full picture."""

from __future__ import annotations

import io
import urllib.error
import urllib.request

import pytest
from PIL import Image

from movie_assets.assets.previews import image_markdown
from resources.storage.artifact_server import ArtifactServer
from resources.storage.store import LocalArtifactStore


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIE_HOME", str(tmp_path / ".movie"))
    monkeypatch.delenv("MOVIE_MODE", raising=False)
    return tmp_path / ".movie"


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, format="PNG")
    return out.getvalue()


def test_thumbnails_fit_their_box_and_link_to_the_full_image(home, monkeypatch):
    store = LocalArtifactStore()
    shot = store.put_bytes(_png(1080, 1920), ".png")
    sheet = store.put_bytes(_png(6 * 544, 964), ".jpg")
    with ArtifactServer(home / "artifacts", 0) as server:
        base = f"http://127.0.0.1:{server.port}"
        monkeypatch.setenv("MOVIE_PREVIEW_URL", base)
        markdown = image_markdown(shot, "a shot").value
        assert markdown == (
            f"[![a shot]({base}/thumbnails/560x320/{shot.sha256}.png)]"
            f"({base}/artifacts/{shot.sha256}.png)"
        )
        sizes = {}
        for ref in (shot, sheet):
            url = f"{base}/thumbnails/560x320/{ref.sha256}{ref.suffix}"
            with urllib.request.urlopen(url) as response:
                assert response.headers["Content-Type"] == "image/jpeg"
                with Image.open(io.BytesIO(response.read())) as image:
                    sizes[ref.suffix] = image.size
        assert sizes == {".png": (180, 320), ".jpg": (560, 165)}
        for bad in (
            f"/thumbnails/9999x320/{shot.sha256}.png",
            f"/thumbnails/560x320/{'0' * 64}.png",
            f"/thumbnails/560x320/{shot.sha256}.wav",
            "/thumbnails/560x320/../../keys.png",
        ):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + bad)
            assert refused.value.code == 404
