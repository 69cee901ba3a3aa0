"""Preview links recorded in materialization metadata: http URLs the Dagster UI will open.

Locally they point at the artifact server that `movie ui` starts (MOVIE_PREVIEW_URL, default
http://127.0.0.1:3001); the URL of an artifact is derived from its content hash, so it is stable
across runs and processes, and a CLI build records the same URLs the UI later serves.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import dagster as dg

from resources.store import ArtifactRef

PREVIEW_URL_ENV = "MOVIE_PREVIEW_URL"
DEFAULT_PREVIEW_URL = "http://127.0.0.1:3001"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def preview_base_url() -> str:
    base = os.environ.get(PREVIEW_URL_ENV, DEFAULT_PREVIEW_URL).rstrip("/")
    parsed = urlparse(base)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{PREVIEW_URL_ENV} must be an http(s) URL, got {base!r}")
    return base


def preview_port() -> int:
    parsed = urlparse(preview_base_url())
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def preview_url(ref: ArtifactRef) -> str:
    if ref.uri.startswith("s3://"):
        # Production mode: a short-lived presigned GET straight from the bucket.
        from resources.s3store import presigned_url

        return presigned_url(ref.uri)
    return f"{preview_base_url()}/artifacts/{ref.sha256}{ref.suffix}"


def image_markdown(ref: ArtifactRef, alt: str = "") -> dg.MetadataValue:
    from movie_assets.producing import md_escape

    return dg.MetadataValue.md(f"![{md_escape(alt)}]({preview_url(ref)})")


def preview_metadata(ref: ArtifactRef) -> dict:
    """`view` (a link that opens the artifact: image, audio or video) and, for images, an
    inline `preview`."""
    metadata: dict = {"view": dg.MetadataValue.url(preview_url(ref))}
    if ref.suffix in IMAGE_SUFFIXES:
        metadata["preview"] = image_markdown(ref)
    return metadata
