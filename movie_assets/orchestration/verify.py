"""Which stored artifacts a movie's materializations reference, and whether each is intact.

`movie verify` walks the latest materialization of every planned partition (or, with
`all_revisions`, every materialization of the movie's partitions), checks each referenced file
against its hash (deep: the stored bytes are read again, remembered passes are not trusted) and
lists what is missing or corrupt. Corrupt files are moved to quarantine by the check itself, so a
rebuild (`movie regenerate`) re-makes exactly them.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from movie_assets.io_manager import artifacts_from_metadata
from movie_assets.orchestration.levels import LEVELS
from movie_assets.partitions import planned_partitions
from resources.storage.projects import MovieInputs
from resources.storage.store import ArtifactRef, ArtifactState, ArtifactStore


@dataclass(frozen=True)
class Reference:
    asset: str
    partition: str
    name: str  # the file's role in its Artifacts ("main", "timings", ...)
    ref: ArtifactRef
    latest: bool


@dataclass(frozen=True)
class Damage:
    reference: Reference
    state: ArtifactState


def movie_references(
    instance: dg.DagsterInstance, movie_id: str, inputs: MovieInputs, *, all_revisions: bool
) -> list[Reference]:
    """The files referenced by the movie's latest materializations (and older ones if asked)."""
    found: list[Reference] = []
    for _, level, assets in LEVELS:
        partitions = [str(k) for k in planned_partitions(movie_id, inputs.request, level)]
        for asset in assets:
            seen: set[str] = set()
            cursor = None
            while True:
                wanted = dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(asset), asset_partitions=partitions
                )
                page = instance.fetch_materializations(wanted, limit=500, cursor=cursor)
                for record in page.records:  # newest first: the first of a partition is latest
                    event = record.asset_materialization
                    if event is None:
                        continue
                    partition = event.partition or movie_id
                    latest = partition not in seen
                    seen.add(partition)
                    artifacts = artifacts_from_metadata(dict(event.metadata))
                    if artifacts is None or not (latest or all_revisions):
                        continue
                    found += [
                        Reference(asset, partition, name, ref, latest)
                        for name, ref in artifacts.files.items()
                    ]
                if not page.has_more:
                    break
                cursor = page.cursor
    return found


def find_damage(store: ArtifactStore, references: list[Reference]) -> list[Damage]:
    """Every reference whose file is missing or corrupt; each distinct file is read once."""
    states: dict[tuple[str, str], ArtifactState] = {}
    damage = []
    for reference in references:
        address = (reference.ref.sha256, reference.ref.suffix)
        if address not in states:
            states[address] = store.check(reference.ref, deep=True)
        if states[address] != "ok":
            damage.append(Damage(reference, states[address]))
    return damage
