"""Per-partition staleness for one movie, as the UI computes it, with its records read in bulk.

Dagster's CachingStaleStatusResolver reads one record per partition, and one or two more per
partitioned dependency to see whether it changed since it was read: hundreds of small queries
for a 60 s movie (about 2 s of every `movie status`, `edit` and build level). Here the newest
record of each of the movie's partition keys is read per asset in one query (on first use), and
the resolver answers from them: the same records, so the same statuses and causes. Anything
else (an observable asset's own record, other keys) goes to Dagster's queries.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from movie_assets.orchestration.code_location import definitions
from resources.runtime.dagster_private import (
    AssetGraphView,
    AssetKeyPartitionKey,
    CachingStaleStatusResolver,
    TemporalContext,
    get_current_datetime,
)

_PAGE = 1000  # records per query when a partition's history is long


class PrefetchedStaleStatusResolver(CachingStaleStatusResolver):
    """Dagster's resolver, answering newest-record reads for the movie's partition keys from
    records fetched in bulk, per asset on first use."""

    def __init__(self, instance, asset_graph, view, keys: Iterable[str]) -> None:
        super().__init__(instance, asset_graph, view)
        self._keys = frozenset(keys)  # asked for every partition and dependency: a set
        self._newest_by_asset: dict[tuple[dg.AssetKey, bool], dict[str, dg.EventLogRecord]] = {}

    @property
    def instance(self) -> dg.DagsterInstance:
        return self._instance

    def _newest(self, asset_key: dg.AssetKey, observed: bool, partition: str):
        """The newest materialization (or observation) of one partition, None if it has none."""
        found = self._newest_by_asset.get((asset_key, observed))
        if found is None:
            found = _newest_records(self._instance, asset_key, self._keys, observed)
            self._newest_by_asset[asset_key, observed] = found
        return found.get(partition)

    def _get_latest_data_version_record(self, key: AssetKeyPartitionKey):
        node = self.asset_graph.get(key.asset_key) if self.asset_graph.has(key.asset_key) else None
        # An observable asset's record is its newest observation or materialization: Dagster's.
        if node is None or node.is_observable or key.partition_key not in self._keys:
            return super()._get_latest_data_version_record(key=key)
        return self._newest(key.asset_key, False, key.partition_key)

    def _is_dep_updated(self, provenance, dep_key: AssetKeyPartitionKey) -> bool:
        # Dagster asks for the dependency's newest record after the one this partition read
        # (one query per partition and dependency); none is newer when the newest of all is not.
        cursor = provenance.input_storage_ids.get(dep_key.asset_key)
        if cursor is not None and dep_key.partition_key in self._keys:
            external = self.asset_graph.get(dep_key.asset_key).is_external
            newest = self._newest(dep_key.asset_key, external, dep_key.partition_key)
            if newest is None or newest.storage_id <= cursor:
                return False
        return super()._is_dep_updated(provenance, dep_key)


def _newest_records(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Iterable[str], observed: bool
) -> dict[str, dg.EventLogRecord]:
    """{partition: its newest materialization (or observation)} for those of `keys` that have
    one: the event log newest first, page by page until every key has one or history ends."""
    fetch = instance.fetch_observations if observed else instance.fetch_materializations
    newest: dict[str, dg.EventLogRecord] = {}
    wanted = set(keys)
    cursor = None
    while wanted:
        page = fetch(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=sorted(wanted)),
            limit=_PAGE,
            cursor=cursor,
        )
        for record in page.records:
            if record.partition_key in wanted:
                wanted.discard(record.partition_key)
                newest[record.partition_key] = record
        if not page.has_more:
            break
        cursor = page.cursor
    return newest


def stale_resolver(
    instance: dg.DagsterInstance, keys: Iterable[str] = ()
) -> CachingStaleStatusResolver:
    """Dagster's per-partition staleness, as the UI computes it; the records of partitions
    `keys` (one movie's partition keys, of every level) are read in bulk."""
    asset_graph = definitions().resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=asset_graph,
    )
    return PrefetchedStaleStatusResolver(instance, asset_graph, view, keys)
