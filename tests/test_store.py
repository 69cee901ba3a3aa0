"""The local artifact store: content addressed, atomic, never overwriting."""

import os
from pathlib import Path

import pytest

from resources.store import ArtifactRef, LocalArtifactStore, atomic_write_bytes, content_key


def test_same_bytes_same_address_and_revisions_kept(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    first = store.put_bytes(b"take one", ".txt")
    again = store.put_bytes(b"take one", ".txt")
    second = store.put_bytes(b"take two", ".txt")
    assert first == again
    assert first.sha256 != second.sha256
    assert store.local_path(first).read_bytes() == b"take one"
    assert store.local_path(second).read_bytes() == b"take two"
    assert first.uri.startswith("file://") and first.uri.endswith(".txt")


def test_key_index_remembers_calls_and_ignores_lost_blobs(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    key = content_key("shot_image", "a prompt", {"seed": 1})
    assert key == content_key("shot_image", "a prompt", {"seed": 1})
    assert key != content_key("shot_image", "a prompt", {"seed": 2})
    assert store.lookup(key) is None
    ref = store.put_bytes(b"png", ".png")
    store.remember(key, ref)
    assert store.lookup(key) == ref
    store.local_path(ref).unlink()
    assert store.lookup(key) is None


def test_missing_artifact_is_a_clear_error(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    ghost = ArtifactRef(uri="file:///nope", sha256="ab" * 32, size=1, suffix=".png")
    with pytest.raises(FileNotFoundError, match="is not in"):
        store.local_path(ghost)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    atomic_write_bytes(target, b"old")

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new and longer")
    assert target.read_bytes() == b"old"
    assert [p.name for p in Path(tmp_path).iterdir()] == ["out.json"]
