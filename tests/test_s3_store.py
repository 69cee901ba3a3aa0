"""The S3 artifact store against a real SeaweedFS S3 gateway: the local store's contract, plus
multipart uploads, a verified read cache, presigned URLs and refused anonymous access."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from resources.storage.s3 import S3ArtifactStore, s3_store_from_env
from resources.storage.store import ArtifactCorrupt, content_key
from tests.servers import new_bucket, s3_env

pytestmark = pytest.mark.e2e  # a SeaweedFS server


@pytest.fixture
def store_factory(seaweedfs, tmp_path, monkeypatch):
    bucket = new_bucket(seaweedfs)
    for name, value in s3_env(seaweedfs, bucket).items():
        monkeypatch.setenv(name, value)

    def make(**changes) -> S3ArtifactStore:
        store = s3_store_from_env(os.environ)
        cache = tmp_path / f"cache{len(list(tmp_path.iterdir()))}"
        return store.model_copy(update={"cache_dir": str(cache), **changes})

    return make


def test_content_addressed_never_overwritten_and_readable_from_a_cold_cache(store_factory):
    store = store_factory()
    first = store.put_bytes(b"take one", ".txt")
    key = store.key_of(first)
    stamp = store.client.head_object(Bucket=store.bucket, Key=key)["LastModified"]
    time.sleep(1.1)
    again = store.put_bytes(b"take one", ".txt")
    second = store.put_bytes(b"take two", ".txt")
    assert again == first and second.sha256 != first.sha256
    assert first.uri == f"s3://{store.bucket}/sha256/{first.sha256[:2]}/{first.sha256}.txt"
    # The second put of identical bytes wrote nothing.
    assert store.client.head_object(Bucket=store.bucket, Key=key)["LastModified"] == stamp
    cold = store_factory()
    path = cold.local_path(second)
    assert path.read_bytes() == b"take two" and str(path).startswith(cold.cache_dir)


def test_delivery_publishes_the_bucket_object_and_the_local_file(
    store_factory, tmp_path, monkeypatch
):
    from movie_assets.orchestration.delivery import deliver

    monkeypatch.setenv("MOVIE_HOME", str(tmp_path / ".movie"))
    store = store_factory()
    first = store.put_bytes(b"first movie", ".mp4")
    second = store.put_bytes(b"second movie", ".mp4")
    delivered = deliver(store, first, "bees")
    assert delivered.uri == f"s3://{store.bucket}/published/bees.mp4"
    assert delivered.path.read_bytes() == b"first movie"
    delivered = deliver(store, second, "bees")  # a rebuild re-points both at the new video
    head = store.client.head_object(Bucket=store.bucket, Key="published/bees.mp4")
    assert head["Metadata"]["sha256"] == second.sha256  # says which revision is published
    with urllib.request.urlopen(store.url_for_uri(delivered.uri), timeout=30) as response:
        assert response.read() == b"second movie"
    assert delivered.path.read_bytes() == b"second movie"


def test_key_index_remembers_calls_and_ignores_lost_blobs(store_factory):
    store = store_factory()
    key = content_key("shot_image", "a prompt", {"seed": 1})
    assert store.lookup(key) is None
    ref = store.put_bytes(b"png bytes", ".png")
    store.remember(key, ref)
    assert store_factory().lookup(key) == ref
    store.client.delete_object(Bucket=store.bucket, Key=store.key_of(ref))
    assert store.lookup(key) is None
    with pytest.raises(FileNotFoundError, match="is not in s3://"):
        store_factory().local_path(ref)


def test_large_files_go_up_in_parts(store_factory, tmp_path):
    store = store_factory(multipart_threshold_mb=5)
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(11 << 20))
    ref = store.put_file(big, ".mp4")
    head = store.client.head_object(Bucket=store.bucket, Key=store.key_of(ref))
    assert head["ContentLength"] == 11 << 20
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # three parts
    assert head["Metadata"]["sha256"] == ref.sha256
    assert store_factory().local_path(ref).read_bytes() == big.read_bytes()


def test_a_failed_multipart_upload_leaves_no_object_and_no_open_upload(store_factory, tmp_path):
    store = store_factory(multipart_threshold_mb=5)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 << 20))
    parts = []

    def fail_second_part(**kwargs):
        parts.append(kwargs["params"]["PartNumber"])
        if len(parts) == 2:
            raise ConnectionError("network dropped mid-upload")

    store.client.meta.events.register("before-parameter-build.s3.UploadPart", fail_second_part)
    with pytest.raises(Exception, match="network dropped"):
        store.put_file(big, ".bin")
    listed = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == []
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    assert uploads == []


def test_a_download_that_does_not_match_its_hash_is_rejected(store_factory):
    store = store_factory()
    ref = store.put_bytes(b"the real bytes", ".txt")
    store.client.put_object(Bucket=store.bucket, Key=store.key_of(ref), Body=b"tampered")
    cold = store_factory()
    with pytest.raises(ArtifactCorrupt, match="do not match"):
        cold.local_path(ref)
    cached = [p for p in os.walk(cold.cache_dir) for p in p[2]]
    assert cached == []
    # The bad object left its address for quarantine/ (kept, not deleted) ...
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix="quarantine/")
    (kept,) = listed["Contents"]
    body = store.client.get_object(Bucket=store.bucket, Key=kept["Key"])["Body"].read()
    assert body == b"tampered" and not store.exists(ref)
    # ... so making the same bytes again uploads them and every reader gets them back.
    assert store.put_bytes(b"the real bytes", ".txt") == ref
    assert store_factory().local_path(ref).read_bytes() == b"the real bytes"


def test_verification_finds_a_corrupt_object_behind_a_good_cache(store_factory):
    store = store_factory()
    ref = store.put_bytes(b"a narration", ".wav")
    store.client.put_object(Bucket=store.bucket, Key=store.key_of(ref), Body=b"a narratioN")
    assert store.check(ref) == "ok"  # this machine's verified cache copy is intact
    assert store.check(ref, deep=True) == "corrupt"  # `movie verify` reads the bucket's bytes
    assert store.check(ref) == "missing"


def test_a_corrupt_cache_copy_is_replaced_from_the_bucket(store_factory):
    store = store_factory()
    ref = store.put_bytes(b"an image", ".png")
    cached = store.local_path(ref)
    cached.write_bytes(b"an imagE")
    assert store.local_path(ref).read_bytes() == b"an image"
    assert store.exists(ref)


def test_presigned_url_serves_the_image_then_expires(store_factory):
    store = store_factory(presign_expiry_s=2)
    ref = store.put_bytes(b"\x89PNG fake image bytes", ".png")
    url = store.view_url(ref)
    assert url.startswith(store.s3.endpoint_url) and "X-Amz-Signature" in url
    assert store.url_for_uri(ref.uri).split("?")[0] == url.split("?")[0]
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"\x89PNG fake image bytes"
        assert response.headers["Content-Type"] == "image/png"
    time.sleep(3)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url)
    assert refused.value.code == 403


def test_requests_without_valid_credentials_are_refused(store_factory, seaweedfs):
    store = store_factory()
    ref = store.put_bytes(b"private", ".txt")
    key = store.key_of(ref)
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{seaweedfs.endpoint_url}/{store.bucket}/{key}")
    assert anonymous.value.code == 403
    unsigned = boto3.client(
        "s3", endpoint_url=seaweedfs.endpoint_url, config=Config(signature_version=UNSIGNED)
    )
    with pytest.raises(ClientError, match="AccessDenied"):
        unsigned.get_object(Bucket=store.bucket, Key=key)
    wrong = boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key="not-the-secret",
        region_name="us-east-1",
    )
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        wrong.get_object(Bucket=store.bucket, Key=key)


def test_credentials_are_never_part_of_the_store_config(store_factory, seaweedfs):
    store = store_factory()
    dumped = json.dumps(store.model_dump(), default=str)
    assert seaweedfs.secret_key not in dumped and seaweedfs.access_key not in dumped
    assert store.put_bytes(b"works from the environment", ".txt").size == 26


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MOVIE_S3_PRESIGN_EXPIRY_S": "soon"}, "MOVIE_S3_PRESIGN_EXPIRY_S must be"),
        ({"MOVIE_S3_PRESIGN_EXPIRY_S": "9999999"}, "7 days"),
        ({"MOVIE_S3_BUCKET": " "}, "MOVIE_S3_BUCKET must name a bucket"),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        s3_store_from_env(env)
