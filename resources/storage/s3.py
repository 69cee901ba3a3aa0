"""Artifacts in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, SeaweedFS).

The same contract as the local store: an artifact's key is the sha256 of its bytes, an object is
never overwritten, and only finished uploads become visible (S3 publishes an object, multipart or
not, only when its upload completes; a failed multipart upload is aborted). Reads go through a
local cache, filled atomically and checked against the hash (remembered by the cache file's stamp,
as in the local store). An object whose bytes do not match is moved to `quarantine/` in the bucket
(copied, then removed from its address) so the next build makes it again. Credentials are never
part of this resource's config: boto3 reads them from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY) or its usual chain, so they stay out of run config, metadata and logs.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from resources.runtime.settings import movie_home
from resources.storage.store import (
    ArtifactCorrupt,
    ArtifactMissing,
    ArtifactRef,
    ArtifactState,
    ArtifactStore,
    BlobVerifier,
    read_index_entry,
    sha256_file,
)

DEFAULT_PRESIGN_EXPIRY_S = 3600


def _missing(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code")
    return code in ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


def _already_there(error: ClientError) -> bool:
    # If-None-Match: * lost a race to an identical upload (same key = same bytes).
    return error.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412")


class S3ArtifactStore(ArtifactStore):
    """Artifacts as s3://bucket/prefix/sha256/ab/<sha256><suffix>; the key index beside them."""

    s3: S3Resource
    bucket: str
    prefix: str = ""
    presign_expiry_s: int = DEFAULT_PRESIGN_EXPIRY_S
    # Files at least this large go up in parts (S3's smallest part is 5 MiB).
    multipart_threshold_mb: int = 16
    cache_dir: str | None = None

    _client: Any = PrivateAttr(default=None)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # dagster-aws's S3Resource holds the connection settings; the client is built here
            # because presigned URLs must be SigV4 (R2 and SeaweedFS accept nothing older).
            settings = self.s3
            self._client = boto3.session.Session(profile_name=settings.profile_name).client(
                "s3",
                region_name=settings.region_name,
                endpoint_url=settings.endpoint_url,
                use_ssl=settings.use_ssl,
                verify=settings.verify,
                config=Config(
                    signature_version="s3v4",
                    retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                ),
            )
        return self._client

    # -- addresses ---------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        base = self.prefix.strip("/")
        return "/".join([base, *parts] if base else parts)

    def blob_key(self, sha: str, suffix: str) -> str:
        return self._key("sha256", sha[:2], f"{sha}{suffix}")

    def _index_key(self, key: str) -> str:
        return self._key("keys", key[:2], f"{key}.json")

    def _cache_root(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else movie_home() / "cache" / "s3"

    def _cache_path(self, sha: str, suffix: str) -> Path:
        return self._cache_root() / self.bucket / "sha256" / sha[:2] / f"{sha}{suffix}"

    def key_of(self, ref: ArtifactRef) -> str:
        return self.blob_key(ref.sha256, ref.suffix)

    def _verifier(self) -> BlobVerifier:
        return BlobVerifier(self._cache_root() / self.bucket)

    # -- the ArtifactStore interface ---------------------------------------------------------

    def _stored_size(self, ref: ArtifactRef) -> int | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key_of(ref))
        except ClientError as error:
            if _missing(error):
                return None
            raise
        return int(head["ContentLength"])

    def exists(self, ref: ArtifactRef) -> bool:
        return self._stored_size(ref) is not None

    def check(self, ref: ArtifactRef, *, deep: bool = False) -> ArtifactState:
        """Shallow: a verified cache copy, else the object's presence and size (its bytes are
        verified when read). Deep: the object's bytes are downloaded and hashed."""
        cached = self._cache_path(ref.sha256, ref.suffix)
        if not deep and self._verifier().state(cached, ref) == "ok":
            return "ok"
        size = self._stored_size(ref)
        if size is None:
            if deep:  # this machine's copy must not hide it: the next build makes it again
                self._verifier().quarantine(cached)
            return "missing"
        if size != ref.size:
            self.quarantine_object(ref)
            self._verifier().quarantine(cached)
            return "corrupt"
        if not deep:
            return "ok"
        with tempfile.TemporaryDirectory(dir=self._scratch()) as tmp:
            copy = Path(tmp) / "object"
            try:
                self.client.download_file(self.bucket, self.key_of(ref), str(copy))
            except ClientError as error:
                if _missing(error):
                    return "missing"
                raise
            if sha256_file(copy) != ref.sha256:
                self.quarantine_object(ref)
                self._verifier().quarantine(cached)
                return "corrupt"
        self._verifier().state(cached, ref, deep=True)  # a bad cache copy goes too
        return "ok"

    def _scratch(self) -> Path:
        root = self._cache_root() / "incoming"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def quarantine_object(self, ref: ArtifactRef) -> str:
        """Move a damaged object out of its address (copy to quarantine/, then delete), so a
        rebuild uploads the right bytes there again; nothing is ever deleted outright."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        key = self._key("quarantine", f"{stamp}-{ref.sha256}{ref.suffix}")
        self.client.copy({"Bucket": self.bucket, "Key": self.key_of(ref)}, self.bucket, key)
        self.client.delete_object(Bucket=self.bucket, Key=self.key_of(ref))
        return f"s3://{self.bucket}/{key}"

    def put_file(self, path: Path, suffix: str) -> ArtifactRef:
        sha = sha256_file(path)
        size = path.stat().st_size
        ref = ArtifactRef(
            uri=f"s3://{self.bucket}/{self.blob_key(sha, suffix)}",
            sha256=sha,
            size=size,
            suffix=suffix,
        )
        if not self.exists(ref):  # never overwrite: same key means same bytes
            self._upload(path, self.key_of(ref), sha, suffix)
        self._fill_cache(path, ref)
        return ref

    def _upload(self, path: Path, key: str, sha: str, suffix: str) -> None:
        extra = {
            "Metadata": {"sha256": sha},
            "ContentType": mimetypes.guess_type(f"x{suffix}")[0] or "application/octet-stream",
        }
        threshold = self.multipart_threshold_mb << 20
        if path.stat().st_size < threshold:
            try:
                with open(path, "rb") as body:
                    self.client.put_object(
                        Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*", **extra
                    )
            except ClientError as error:
                if not _already_there(error):
                    raise
            return
        from boto3.s3.transfer import TransferConfig

        # s3transfer uploads the parts in parallel and aborts the upload if any part fails,
        # so an interrupted large upload never becomes a visible object.
        self.client.upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs=extra,
            Config=TransferConfig(multipart_threshold=threshold, multipart_chunksize=threshold),
        )

    def _fill_cache(self, source: Path, ref: ArtifactRef) -> None:
        target = self._cache_path(ref.sha256, ref.suffix)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming.", suffix=ref.suffix)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._verifier().remember_good(target)

    def local_path(self, ref: ArtifactRef) -> Path:
        cached = self._cache_path(ref.sha256, ref.suffix)
        if self._verifier().state(cached, ref) == "ok":  # a bad cache copy is quarantined
            return cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".incoming.", suffix=ref.suffix)
        os.close(fd)
        try:
            try:
                self.client.download_file(self.bucket, self.key_of(ref), tmp)
            except ClientError as error:
                if _missing(error):
                    raise ArtifactMissing(
                        ref, f"it is not in s3://{self.bucket}/{self._key('sha256')}"
                    ) from None
                raise
            if sha256_file(Path(tmp)) != ref.sha256:
                moved = self.quarantine_object(ref)
                raise ArtifactCorrupt(ref, f"the bucket's bytes do not match; moved to {moved}")
            os.replace(tmp, cached)
            self._verifier().remember_good(cached)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return cached

    def lookup(self, key: str) -> ArtifactRef | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._index_key(key))["Body"]
        except ClientError as error:
            if _missing(error):
                return None
            raise
        ref = read_index_entry(body.read())
        if ref is None:
            return None
        # The bucket must hold it (other machines read it from there); its bytes are verified
        # when they are read, and an object of the wrong size is quarantined now.
        size = self._stored_size(ref)
        if size is not None and size != ref.size:
            self.quarantine_object(ref)
            return None
        return ref if size is not None else None

    def remember(self, key: str, ref: ArtifactRef) -> None:
        # Index entries may be re-pointed (a PUT replaces an object atomically).
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._index_key(key),
            Body=ref.model_dump_json().encode(),
            ContentType="application/json",
        )

    def published_key(self, name: str) -> str:
        return self._key("published", name)

    def publish(self, ref: ArtifactRef, name: str) -> str:
        """Copy the artifact, inside the bucket, to published/<name>: one PUT replaces the object
        at once, so a reader gets the old movie or the new one, never a mix. The copy keeps the
        sha256 metadata, which says which revision is published."""
        key = self.published_key(name)
        self.client.copy({"Bucket": self.bucket, "Key": self.key_of(ref)}, self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def view_url(self, ref: ArtifactRef) -> str:
        """A presigned GET URL, valid for presign_expiry_s; the s3:// uri stays the stable name."""
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.key_of(ref)},
            ExpiresIn=self.presign_expiry_s,
        )

    def url_for_uri(self, uri: str) -> str:
        """A fresh presigned URL for a stable s3://bucket/key name of this store."""
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or parsed.netloc != self.bucket:
            raise ValueError(f"uri: {uri!r} is not an s3://{self.bucket}/ key of this store")
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": parsed.path.lstrip("/")},
            ExpiresIn=self.presign_expiry_s,
        )

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (first start of a fresh server)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if not _missing(error):
                raise
            self.client.create_bucket(Bucket=self.bucket)


# -- configuration from the environment -------------------------------------------------------

ENV_BUCKET = "MOVIE_S3_BUCKET"
ENV_ENDPOINT = "MOVIE_S3_ENDPOINT_URL"
ENV_REGION = "MOVIE_S3_REGION"
ENV_PREFIX = "MOVIE_S3_PREFIX"
ENV_EXPIRY = "MOVIE_S3_PRESIGN_EXPIRY_S"


def s3_store_from_env(env: Mapping[str, str]) -> S3ArtifactStore:
    """The production store, configured by MOVIE_S3_* variables (credentials: AWS_* variables,
    read by boto3 itself). Bad values fail here with the variable's name."""
    bucket = env.get(ENV_BUCKET, "movie").strip()
    if not bucket:
        raise ValueError(f"{ENV_BUCKET} must name a bucket")
    raw_expiry = env.get(ENV_EXPIRY, str(DEFAULT_PRESIGN_EXPIRY_S))
    try:
        expiry = int(raw_expiry)
    except ValueError:
        expiry = 0
    if not 1 <= expiry <= 7 * 24 * 3600:
        raise ValueError(
            f"{ENV_EXPIRY} must be a whole number of seconds from 1 to 604800 (7 days, "
            f"the longest a SigV4 presigned URL may live), got {raw_expiry!r}"
        )
    return S3ArtifactStore(
        s3=S3Resource(
            endpoint_url=env.get(ENV_ENDPOINT) or None,
            region_name=env.get(ENV_REGION, "us-east-1"),
        ),
        bucket=bucket,
        prefix=env.get(ENV_PREFIX, ""),
        presign_expiry_s=expiry,
    )


@functools.lru_cache(maxsize=4)
def _store_for(settings: tuple[tuple[str, str], ...]) -> S3ArtifactStore:
    return s3_store_from_env(dict(settings))


def presigned_url(uri: str, env: Mapping[str, str] | None = None) -> str:
    """A fresh presigned GET URL for a stable s3:// artifact name, with the production store's
    settings (MOVIE_S3_*); one client per distinct configuration."""
    env = os.environ if env is None else env
    settings = tuple(sorted((k, v) for k, v in env.items() if k.startswith("MOVIE_S3_")))
    return _store_for(settings).url_for_uri(uri)
