"""The local artifact store: content addressed, atomic, never overwriting."""

import os
from pathlib import Path

import pytest

from resources.storage.store import (
    ArtifactCorrupt,
    ArtifactRef,
    LocalArtifactStore,
    atomic_write_bytes,
    content_key,
)


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


def _flip(path: Path, at: int = 2) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_bytes_are_refused_and_quarantined_never_deleted(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    ref = store.put_bytes(b"narration samples", ".wav")
    path = store.local_path(ref)
    _flip(path)
    with pytest.raises(ArtifactCorrupt, match="is corrupt"):
        store.local_path(ref)
    assert not path.exists()
    (kept,) = (tmp_path / "quarantine").iterdir()
    assert kept.name.endswith(path.name) and kept.read_bytes() != b"narration samples"
    assert store.check(ref) == "missing"
    # Making the same bytes again repairs the address.
    assert store.put_bytes(b"narration samples", ".wav") == ref
    assert store.local_path(ref).read_bytes() == b"narration samples"


def test_a_pass_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import resources.storage.store as store_module

    store = LocalArtifactStore(root=str(tmp_path))
    ref = store.put_bytes(b"x" * 4096, ".bin")
    hashed = []
    real = store_module.sha256_file
    monkeypatch.setattr(store_module, "sha256_file", lambda p: hashed.append(p) or real(p))
    for _ in range(3):
        store.local_path(ref)
    assert hashed == []  # the stamp written at put time holds
    path = store.local_path(ref)
    os.utime(path, ns=(1, 1))  # a touched file is hashed again, once
    store.local_path(ref)
    store.local_path(ref)
    assert len(hashed) == 1
    assert store.check(ref, deep=True) == "ok" and len(hashed) == 2


def test_the_key_index_skips_corrupt_blobs_and_garbled_entries(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    ref = store.put_bytes(b"image", ".png")
    store.remember("k1", ref)
    _flip(store.local_path(ref), at=1)
    assert store.lookup("k1") is None  # the caller makes it again
    index = tmp_path / "keys" / "k1"[:2] / "k1.json"
    index.write_bytes(b'{"uri": "file:///x", "sha')
    assert store.lookup("k1") is None


def test_a_stored_model_with_bad_bytes_names_the_artifact_not_the_bytes(tmp_path):
    store = LocalArtifactStore(root=str(tmp_path))
    ref = store.put_bytes(b'{"uri": "\xff\xfe secret-ish bytes"}', ".json")
    with pytest.raises(ArtifactCorrupt) as raised:
        store.read_model(ref, ArtifactRef)
    assert "secret-ish" not in str(raised.value) and "ArtifactRef" in str(raised.value)
