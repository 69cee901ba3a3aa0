"""Real servers for tests, started on free loopback ports and stopped afterwards.

The fixtures live in tests/conftest.py (one server each per session; never import them):
- `seaweedfs`: a SeaweedFS S3 gateway (session-wide) with one identity; `.endpoint_url`,
  `.access_key`, `.secret_key`, `.client()`; `new_bucket(server)` makes an empty bucket;
- `postgres`: a PostgreSQL server (session-wide) on TCP; `.create_database(name)` returns the URL
  of a fresh database, so tests sharing the server never share data;
- `s3_env(server, bucket)`: the environment variables production mode reads for that bucket.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from movie_assets.instance.local_stack import LocalSeaweedS3


def outside_pytest_tmp(prefix: str) -> Path:
    """A fresh folder for PostgreSQL data. As root, PostgreSQL runs as another user who must be
    able to enter every parent folder, and each new pytest session resets its own base folder to
    0700 (other sessions run on this machine), so the data cannot live under pytest's tmp."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def new_bucket(server: LocalSeaweedS3) -> str:
    name = f"movie-{uuid.uuid4().hex[:12]}"
    server.client().create_bucket(Bucket=name)
    return name


def s3_env(server: LocalSeaweedS3, bucket: str) -> dict[str, str]:
    return {
        "MOVIE_S3_ENDPOINT_URL": server.endpoint_url,
        "MOVIE_S3_BUCKET": bucket,
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
    }
