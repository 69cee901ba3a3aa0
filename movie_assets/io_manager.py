"""How assets hand artifacts to each other.

Assets write their files to the artifact store themselves and return an `Artifacts` value; its
refs are recorded as materialization metadata. Loading an input reads the latest materialization
of each upstream partition from the instance, so a rollback (a materialization that re-points to
an earlier artifact) is what downstream assets see next. Missing upstream partitions (slots
outside a movie's plan) are simply absent from the loaded mapping.
"""

from __future__ import annotations

import json

import dagster as dg
from pydantic import BaseModel

from resources.storage.store import ArtifactRef

ARTIFACTS_METADATA_KEY = "artifacts"
# Input metadata flag: the input spans several upstream partitions; load them as a mapping.
FAN_IN = "fan_in"


class Artifacts(BaseModel):
    """The files one partition of an asset produced; `main` is the one shown as its uri."""

    files: dict[str, ArtifactRef]

    @property
    def main(self) -> ArtifactRef:
        return self.files["main"]


def artifacts_from_metadata(metadata: dict) -> Artifacts | None:
    value = metadata.get(ARTIFACTS_METADATA_KEY)
    if value is None:
        return None
    raw = value.value if hasattr(value, "value") else value
    if isinstance(raw, str):
        raw = json.loads(raw)
    return Artifacts(files={name: ArtifactRef.model_validate(ref) for name, ref in raw.items()})


def latest_artifacts(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None
) -> Artifacts | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=asset_key, asset_partitions=[partition] if partition else None
        ),
        limit=1,
    ).records
    if not records:
        return None
    materialization = records[0].asset_materialization
    return artifacts_from_metadata(dict(materialization.metadata)) if materialization else None


class ArtifactIOManager(dg.ConfigurableIOManager):
    def handle_output(self, context: dg.OutputContext, obj: Artifacts | None) -> None:
        # The files are already in the store; the refs travel as materialization metadata.
        return None

    def load_input(self, context: dg.InputContext) -> Artifacts | dict[str, Artifacts]:
        asset_key = context.asset_key
        if not context.has_asset_partitions:
            found = latest_artifacts(context.instance, asset_key, None)
            if found is None:
                raise dg.Failure(f"{asset_key.to_user_string()} has not been materialized yet")
            return found
        keys = context.asset_partition_keys
        loaded: dict[str, Artifacts] = {}
        for key in keys:
            found = latest_artifacts(context.instance, asset_key, key)
            if found is not None:
                loaded[key] = found
        if context.definition_metadata.get(FAN_IN):
            return loaded
        if not loaded:
            raise dg.Failure(
                f"{asset_key.to_user_string()} partition {keys[0]} is missing: materialize it first"
            )
        return loaded[keys[0]]
