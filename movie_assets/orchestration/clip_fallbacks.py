"""Segment clips that fell back to stills: the build treats such a partition as due again."""

from __future__ import annotations

import dagster as dg

# Metadata key of a clip that fell back to stills; the build treats such a partition as due.
FALLBACK = "fallback"
RETRIED_WHEN_FALLEN_BACK = frozenset({"segment_clip"})


def clip_fallbacks(instance: dg.DagsterInstance, partitions: list[str]) -> dict[str, str]:
    """{partition: error} for the given segment_clip partitions whose latest clip fell back."""
    found = {}
    for partition in partitions:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("segment_clip"), asset_partitions=[partition]
            ),
            limit=1,
        ).records
        if not records or records[0].asset_materialization is None:
            continue
        metadata = records[0].asset_materialization.metadata
        if FALLBACK in metadata:
            error = metadata.get("error")
            found[partition] = str(error.value) if error is not None else "unknown error"
    return found
