"""Moving movies from a local project into production mode without losing work.

`export_movies` (in the project the movies were made in) writes one tar archive:

    manifest.json           ExportManifest: format, movies, every artifact with hash and size
    movies/<id>/inputs.json the user's inputs;  movies/<id>/edits.jsonl their change log
    ledger.jsonl            the provider calls made for these movies
    events.jsonl            every materialization and input observation of their partitions,
                            oldest first, as Dagster serialises them (metadata, data versions,
                            provenance)
    keys.json               the artifact store's call index (content key -> artifact) for them
    blobs/<sha256><suffix>  the artifacts of every revision

`import_movies` (MOVIE_MODE=production) checks the whole archive first (safe names, the
manifest, every blob against its hash, every event and input file) and writes nothing if any
of it is wrong. Then it uploads the blobs to the S3 store by content key (an existing object is
never overwritten), fills the call index, records the events in the production instance with
their original times and data versions (each provenance pointer re-aimed at the imported event
it named, so Dagster's staleness is what it was), and restores the inputs and the ledger. The
movie then shows as built: `movie status` lists it, `movie history` its revisions, and `movie
regenerate` finds nothing to do, or reuses every artifact with no provider call.

Runs themselves are not copied (their job snapshots belong to the old code location): the
imported materializations are runless, tagged with the run they came from.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Literal

import dagster as dg
from pydantic import BaseModel, ValidationError

from movie_assets.io_manager import ARTIFACTS_METADATA_KEY, artifacts_from_metadata
from movie_assets.orchestration.code_location import definitions
from resources.storage.projects import MovieInputs, ProjectStore, validate_movie_id
from resources.storage.store import ArtifactRef, ArtifactStore, sha256_file

FORMAT = "movie-export/1"
IMPORTED_RUN_TAG = "movie/imported_run"
REASON_TAG = "movie/reason"  # why a run rebuilt its partitions (the builder sets it)
REASON_METADATA = "reason"  # the same on an imported materialization (tag values are short)


class InvalidArchive(ValueError):
    """The archive cannot be imported; nothing was written."""


class ExportedBlob(BaseModel):
    sha256: str
    suffix: str
    size: int

    @property
    def name(self) -> str:
        return f"blobs/{self.sha256}{self.suffix}"


class ExportedMovie(BaseModel):
    movie_id: str
    events: int
    ledger_calls: int


class ExportManifest(BaseModel):
    format: Literal["movie-export/1"]
    created: float
    movies: list[ExportedMovie]
    blobs: list[ExportedBlob]


class ImportSummary(BaseModel):
    movies: list[str]
    uploaded: int
    already_there: int
    events: int


def _belongs_to(partition: str | None, movie_ids: set[str]) -> bool:
    # Movie partitions are the id itself or "id|slot" (the movie dimension sorts first).
    return partition is not None and partition.split("|")[0] in movie_ids


def _records(instance: dg.DagsterInstance, key: dg.AssetKey, observations: bool):
    fetch = instance.fetch_observations if observations else instance.fetch_materializations
    cursor = None
    while True:
        page = fetch(key, limit=1000, cursor=cursor, ascending=True)
        yield from page.records
        if not page.has_more:
            return
        cursor = page.cursor


def _movie_events(instance: dg.DagsterInstance, movie_ids: set[str]) -> list[dg.EventLogRecord]:
    """Every materialization and observation of the movies' partitions, oldest first."""
    defs = definitions()

    found = []
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        for observations in (False, True):
            found += [
                r
                for r in _records(instance, key, observations)
                if _belongs_to(r.partition_key, movie_ids)
            ]
    return sorted(found, key=lambda r: r.storage_id)


def _event_refs(entry: dg.EventLogEntry) -> list[ArtifactRef]:
    event = entry.dagster_event
    if event is None or not event.is_step_materialization:
        return []
    found = artifacts_from_metadata(dict(event.step_materialization_data.materialization.metadata))
    return list(found.files.values()) if found else []


def _local_key_index(store: ArtifactStore, blobs: set[tuple[str, str]]) -> dict[str, dict]:
    """The call-index entries (content key -> artifact) that point at exported artifacts."""
    root = getattr(store, "_root", None)
    if root is None:
        return {}  # a remote store: regenerating after import re-indexes as it goes
    entries = {}
    for path in (root() / "keys").glob("*/*.json"):
        ref = ArtifactRef.model_validate_json(path.read_text())
        if (ref.sha256, ref.suffix) in blobs:
            entries[path.stem] = {"sha256": ref.sha256, "suffix": ref.suffix, "size": ref.size}
    return entries


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def export_movies(
    instance: dg.DagsterInstance, store: ArtifactStore, movie_ids: list[str], target: Path
) -> ExportManifest:
    """Write the movies' inputs, history, ledger entries and artifacts to the tar `target`
    (written beside it first and renamed when complete)."""
    from dagster import serialize_value

    from resources.storage.ledger import read_calls

    projects = ProjectStore()
    for movie_id in movie_ids:
        projects.load(movie_id)  # UnknownMovie names the one that is not in this project
    wanted = set(movie_ids)
    events = _movie_events(instance, wanted)
    refs = {
        (r.sha256, r.suffix): r for record in events for r in _event_refs(record.event_log_entry)
    }
    blobs = [ExportedBlob(sha256=s, suffix=x, size=r.size) for (s, x), r in sorted(refs.items())]
    calls = [c for c in read_calls() if c["movie"] in wanted]
    manifest = ExportManifest(
        format=FORMAT,
        created=time.time(),
        movies=[
            ExportedMovie(
                movie_id=m,
                events=sum(1 for e in events if _belongs_to(e.partition_key, {m})),
                ledger_calls=sum(1 for c in calls if c["movie"] == m),
            )
            for m in movie_ids
        ],
        blobs=blobs,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with tarfile.open(tmp, "w") as tar:
            _add_bytes(tar, "manifest.json", manifest.model_dump_json(indent=2).encode())
            for movie_id in movie_ids:
                folder = projects.root / movie_id
                for name in ("inputs.json", "edits.jsonl"):
                    if (folder / name).exists():
                        tar.add(folder / name, f"movies/{movie_id}/{name}", recursive=False)
            _add_bytes(tar, "ledger.jsonl", "".join(json.dumps(c) + "\n" for c in calls).encode())
            lines = [
                json.dumps(
                    {"storage_id": r.storage_id, "entry": serialize_value(r.event_log_entry)}
                )
                for r in events
            ]
            _add_bytes(tar, "events.jsonl", "".join(line + "\n" for line in lines).encode())
            reasons = {}
            for run_id in {r.event_log_entry.run_id for r in events if r.event_log_entry.run_id}:
                run = instance.get_run_by_id(run_id)
                if run is not None and run.tags.get(REASON_TAG):
                    reasons[run_id] = run.tags[REASON_TAG]
            _add_bytes(tar, "reasons.json", json.dumps(reasons, indent=1).encode())
            keys = _local_key_index(store, set(refs))
            _add_bytes(tar, "keys.json", json.dumps(keys, indent=1).encode())
            for blob in blobs:
                path = store.local_path(refs[(blob.sha256, blob.suffix)])
                tar.add(path, blob.name, recursive=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


# -- import ------------------------------------------------------------------------------------


class _Unpacked(BaseModel):
    manifest: ExportManifest
    inputs: dict[str, MovieInputs]
    edits: dict[str, str]
    ledger: list[str]
    events: list[tuple[int, str]]
    keys: dict[str, ExportedBlob]
    reasons: dict[str, str]


def _safe_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tar.getmembers():
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not member.isfile():
            raise InvalidArchive(f"{member.name!r}: only plain files with relative names allowed")
        yield member


def _unpack(archive: Path, folder: Path) -> _Unpacked:
    """Extract into `folder` and check everything; raises InvalidArchive naming the problem."""
    from dagster import deserialize_value

    try:
        with tarfile.open(archive) as tar:
            members = list(_safe_members(tar))
            tar.extractall(folder, members=members, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise InvalidArchive(f"not a readable tar archive: {error}") from error

    def text(name: str) -> str:
        path = folder / name
        if not path.is_file():
            raise InvalidArchive(f"{name}: missing")
        return path.read_text(encoding="utf-8")

    try:
        manifest = ExportManifest.model_validate_json(text("manifest.json"))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidArchive(f"manifest.json: {where}: {first['msg']}") from error
    inputs, edits = {}, {}
    for movie in manifest.movies:
        try:
            movie_id = validate_movie_id(movie.movie_id)
            inputs[movie_id] = MovieInputs.model_validate_json(
                text(f"movies/{movie_id}/inputs.json")
            )
        except (ValueError, ValidationError) as error:
            raise InvalidArchive(f"movie {movie.movie_id!r}: {error}") from error
        if inputs[movie_id].movie_id != movie_id:
            raise InvalidArchive(f"movies/{movie_id}/inputs.json: names another movie")
        path = folder / "movies" / movie_id / "edits.jsonl"
        edits[movie_id] = path.read_text(encoding="utf-8") if path.exists() else ""
    for blob in manifest.blobs:
        path = folder / blob.name
        if not path.is_file():
            raise InvalidArchive(f"{blob.name}: missing")
        if path.stat().st_size != blob.size or sha256_file(path) != blob.sha256:
            raise InvalidArchive(f"{blob.name}: its bytes do not match the manifest's sha256")
    listed = {(b.sha256, b.suffix): b for b in manifest.blobs}
    events = []
    for number, line in enumerate(text("events.jsonl").splitlines(), start=1):
        try:
            row = json.loads(line)
            entry = deserialize_value(row["entry"], dg.EventLogEntry)
        except Exception as error:
            raise InvalidArchive(f"events.jsonl line {number}: {error}") from error
        for ref in _event_refs(entry):
            if (ref.sha256, ref.suffix) not in listed:
                raise InvalidArchive(f"events.jsonl line {number}: artifact {ref.sha256} missing")
        events.append((int(row["storage_id"]), row["entry"]))
    return _Unpacked(
        manifest=manifest,
        inputs=inputs,
        edits=edits,
        events=events,
        **_history(text, listed, set(inputs)),
    )


def _history(
    text: Callable[[str], str], listed: dict[tuple[str, str], ExportedBlob], movies: set[str]
) -> dict:
    """The archive's asset keys, run reasons and ledger, checked against its blobs and movies."""
    try:
        keys = {
            k: listed[(v["sha256"], v["suffix"])] for k, v in json.loads(text("keys.json")).items()
        }
        reasons = {str(k): str(v) for k, v in json.loads(text("reasons.json")).items()}
        ledger = [line for line in text("ledger.jsonl").splitlines() if line.strip()]
        for line in ledger:
            if json.loads(line)["movie"] not in movies:
                raise InvalidArchive("ledger.jsonl: a call of a movie not in the manifest")
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, InvalidArchive):
            raise
        raise InvalidArchive(f"keys.json or ledger.jsonl: {error}") from error
    return {"keys": keys, "reasons": reasons, "ledger": ledger}


def _refuse_existing(instance: dg.DagsterInstance, unpacked: _Unpacked) -> None:
    projects = ProjectStore()
    for movie_id, inputs in unpacked.inputs.items():
        if projects.exists(movie_id) and projects.load(movie_id) != inputs:
            raise InvalidArchive(f"movie {movie_id!r} exists here with other inputs")
        if instance.has_dynamic_partition("movie", movie_id):
            raise InvalidArchive(f"movie {movie_id!r} is already in this instance")


def _rewrite_metadata(metadata: dict, uploaded: dict[tuple[str, str], ArtifactRef]) -> dict:
    """Artifact refs point at their bucket keys; links to the old machine's preview server are
    dropped (production makes presigned links when it builds)."""
    found = artifacts_from_metadata(metadata)
    out = {k: v for k, v in metadata.items() if k not in ("view", "preview")}
    if found is None:
        return out
    files = {n: uploaded[(r.sha256, r.suffix)] for n, r in found.files.items()}
    out[ARTIFACTS_METADATA_KEY] = dg.MetadataValue.json(
        {n: r.model_dump() for n, r in files.items()}
    )
    if "uri" in out:
        out["uri"] = dg.MetadataValue.text(files["main"].uri)
    return out


def _retag(tags: dict[str, str], new_ids: dict[int, int]) -> dict[str, str]:
    from resources.runtime.dagster_private import INPUT_EVENT_POINTER_TAG_PREFIX

    out = dict(tags)
    for name, value in tags.items():
        if name.startswith(INPUT_EVENT_POINTER_TAG_PREFIX) and value.isdigit():
            if int(value) in new_ids:
                out[name] = str(new_ids[int(value)])
            else:
                out.pop(name)  # the input came from outside the archive: provenance unknown
    return out


def _record_event(
    instance: dg.DagsterInstance,
    entry: dg.EventLogEntry,
    uploaded: dict[tuple[str, str], ArtifactRef],
    new_ids: dict[int, int],
    reasons: dict[str, str],
) -> int:
    """Store one exported event as a runless event with its original time; its new id."""
    from dagster import DagsterEvent

    from resources.runtime.dagster_private import (
        RUNLESS_JOB_NAME,
        RUNLESS_RUN_ID,
        AssetObservationData,
        StepMaterializationData,
    )

    event = entry.dagster_event
    assert event is not None
    if event.is_step_materialization:
        old = event.step_materialization_data.materialization
        tags = _retag(dict(old.tags or {}), new_ids)
        metadata = _rewrite_metadata(dict(old.metadata), uploaded)
        if entry.run_id:
            tags[IMPORTED_RUN_TAG] = entry.run_id
            if entry.run_id in reasons:
                metadata[REASON_METADATA] = dg.MetadataValue.text(reasons[entry.run_id])
        data = StepMaterializationData(
            dg.AssetMaterialization(
                asset_key=old.asset_key,
                partition=old.partition,
                description=old.description,
                metadata=metadata,
                tags=tags,
            )
        )
        kind = dg.DagsterEventType.ASSET_MATERIALIZATION
        fetch = instance.fetch_materializations
        key, partition = old.asset_key, old.partition
    else:
        old = event.asset_observation_data.asset_observation
        data = AssetObservationData(
            dg.AssetObservation(
                asset_key=old.asset_key,
                partition=old.partition,
                description=old.description,
                metadata=dict(old.metadata),
                tags=_retag(dict(old.tags or {}), new_ids),
            )
        )
        kind = dg.DagsterEventType.ASSET_OBSERVATION
        fetch = instance.fetch_observations
        key, partition = old.asset_key, old.partition
    instance.report_dagster_event(
        DagsterEvent(
            event_type_value=kind.value, job_name=RUNLESS_JOB_NAME, event_specific_data=data
        ),
        run_id=RUNLESS_RUN_ID,
        timestamp=entry.timestamp,
    )
    latest = fetch(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1)
    return latest.records[0].storage_id


def import_movies(
    instance: dg.DagsterInstance, store: ArtifactStore, archive: Path
) -> ImportSummary:
    """Bring the archive's movies into this (production) project; see the module docstring."""
    from dagster import deserialize_value

    from movie_assets.orchestration.builder import register_movie
    from resources.storage.ledger import ledger_path
    from resources.storage.store import atomic_write_bytes

    with tempfile.TemporaryDirectory(prefix="movie-import-") as tmp:
        unpacked = _unpack(archive, Path(tmp))
        _refuse_existing(instance, unpacked)
        # 1. Artifacts by content key: an object already in the bucket is left as it is.
        uploaded: dict[tuple[str, str], ArtifactRef] = {}
        there = 0
        for blob in unpacked.manifest.blobs:
            probe = ArtifactRef(uri="", sha256=blob.sha256, size=blob.size, suffix=blob.suffix)
            there += bool(getattr(store, "exists", lambda _: False)(probe))
            uploaded[(blob.sha256, blob.suffix)] = store.put_file(
                Path(tmp) / blob.name, blob.suffix
            )
        for key, blob in unpacked.keys.items():
            if store.lookup(key) is None:
                store.remember(key, uploaded[(blob.sha256, blob.suffix)])
        # 2. History, oldest first, so each provenance pointer names an event already recorded.
        new_ids: dict[int, int] = {}
        for old_id, serialized in unpacked.events:
            entry = deserialize_value(serialized, dg.EventLogEntry)
            new_ids[old_id] = _record_event(instance, entry, uploaded, new_ids, unpacked.reasons)
        # 3. Inputs and ledger last: the movie exists here once its history does.
        projects = ProjectStore()
        for movie_id, inputs in unpacked.inputs.items():
            if not projects.exists(movie_id):
                folder = projects.root / movie_id
                atomic_write_bytes(folder / "edits.jsonl", unpacked.edits[movie_id].encode())
                projects.save(inputs, change=f"imported from {archive.name}")
        ledger = ledger_path()
        seen = set(ledger.read_text().splitlines()) if ledger.exists() else set()
        fresh = [line for line in unpacked.ledger if line not in seen]  # same project: no twice
        if fresh:
            ledger.parent.mkdir(parents=True, exist_ok=True)
            with open(ledger, "a", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in fresh))
        for movie_id in unpacked.inputs:
            register_movie(instance, movie_id)
    return ImportSummary(
        movies=list(unpacked.inputs),
        uploaded=len(uploaded) - there,
        already_there=there,
        events=len(unpacked.events),
    )
