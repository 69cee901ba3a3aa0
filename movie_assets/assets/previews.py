"""Preview links recorded in materialization metadata: http URLs the Dagster UI will open.

Locally they point at the artifact server that `movie ui` starts (MOVIE_PREVIEW_URL, default
http://127.0.0.1:3001); the URL of an artifact is derived from its content hash, so it is stable
across runs and processes, and a CLI build records the same URLs the UI later serves.

Images show inline as thumbnails (the UI draws a markdown image at its natural size inside a
narrow panel) that link to the full picture; a contact sheet gets a wider thumbnail, whole. The
UI's markdown allows no <audio> or <video>, so sound and video are `view` links: the browser's
own player opens them.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import dagster as dg

from resources.storage.store import ArtifactRef

PREVIEW_URL_ENV = "MOVIE_PREVIEW_URL"
DEFAULT_PREVIEW_URL = "http://127.0.0.1:3001"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
# Where `movie ui` serves the Dagster UI (set by it for the processes it starts): links in
# descriptions point there.
UI_URL_ENV = "MOVIE_UI_URL"
# Thumbnails fit this box: a portrait shot is 180 x 320, a contact sheet of six portrait
# frames 560 pixels wide, both whole inside the metadata panel.
THUMBNAIL_BOX = (560, 320)


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
        from resources.storage.s3 import presigned_url

        return presigned_url(ref.uri)
    return f"{preview_base_url()}/artifacts/{ref.sha256}{ref.suffix}"


def thumbnail_url(ref: ArtifactRef) -> str:
    """The image scaled to THUMBNAIL_BOX by the artifact server (in production, where no
    artifact server runs, the presigned full image)."""
    if ref.uri.startswith("s3://"):
        return preview_url(ref)
    width, height = THUMBNAIL_BOX
    return f"{preview_base_url()}/thumbnails/{width}x{height}/{ref.sha256}{ref.suffix}"


def image_markdown(ref: ArtifactRef, alt: str = "") -> dg.MetadataValue:
    """A thumbnail that opens the full image when clicked."""
    from movie_assets.assets.producer_steps import md_escape

    return dg.MetadataValue.md(f"[![{md_escape(alt)}]({thumbnail_url(ref)})]({preview_url(ref)})")


def preview_metadata(ref: ArtifactRef) -> dict:
    """`view` (a link that opens the artifact: image, audio or video) and, for images, an
    inline `preview`."""
    metadata: dict = {"view": dg.MetadataValue.url(preview_url(ref))}
    if ref.suffix in IMAGE_SUFFIXES:
        metadata["preview"] = image_markdown(ref)
    return metadata
