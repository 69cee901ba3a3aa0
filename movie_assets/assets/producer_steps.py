"""Shared steps of every generating asset: read the movie's inputs, skip the provider when the
store already holds the result of an identical call, record the call, and report what was made."""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
from dagster import DagsterExecutionInterruptedError
from pydantic import BaseModel

from movie_assets.assets.previews import preview_metadata
from movie_assets.io_manager import ARTIFACTS_METADATA_KEY, Artifacts
from movie_assets.partitions import movie_key, slot_key
from resources.domain.errors import classify
from resources.domain.models import ProducerCall
from resources.producers.images.generators import ImageGenerator
from resources.producers.music.procedural import MusicGenerator
from resources.producers.speech.text_to_speech import TextToSpeech
from resources.producers.text.language_models import LanguageModel
from resources.producers.video.animator import VideoGenerator
from resources.runtime.limits import content_lock, producer_slot
from resources.runtime.secrets import (
    contains_secret,
    error_mentions_secret,
    redact,
    redact_value,
    redacted_error,
)
from resources.storage.ledger import record_call
from resources.storage.projects import MovieInputs, ProjectStoreResource
from resources.storage.store import ArtifactRef, ArtifactStore, content_key


def _step_retries() -> int:
    raw = os.environ.get("MOVIE_STEP_RETRIES", "2")
    if not raw.isdigit():
        raise ValueError(f"MOVIE_STEP_RETRIES must be a whole number >= 0, got {raw!r}")
    return int(raw)


# Every asset that calls a provider retries transient failures with backoff; the clients retry
# first (honouring Retry-After), this covers what outlives them. Permanent and local-environment
# failures are raised with allow_retries=False by explained_failures, so they fail at once.
PRODUCER_RETRY = dg.RetryPolicy(
    max_retries=_step_retries(),
    delay=2,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


@contextmanager
def explained_failures(what: str) -> Iterator[None]:
    """Turn a classified error into a dg.Failure that names its class, retried only if a retry
    can help; unexpected errors pass through unchanged (Dagster records their trace). Nothing
    secret goes on: a provider that echoed the API key has it masked here
    (resources/runtime/secrets.py),
    in the description and in the cause Dagster records."""
    try:
        yield
    except dg.Failure as failure:
        if failure.description and contains_secret(failure.description):
            raise dg.Failure(
                description=redact(failure.description),
                metadata=redact_value(dict(failure.metadata or {})),
                allow_retries=failure.allow_retries,
            ) from (redacted_error(failure) if error_mentions_secret(failure) else failure)
        raise
    except Exception as error:
        found = classify(error)
        secret = error_mentions_secret(error)
        cause = redacted_error(error) if secret else error
        if found is None:
            if secret:
                raise cause from None
            raise
        raise dg.Failure(
            description=redact(f"{found.kind}: {found} ({what})"), allow_retries=found.retryable
        ) from cause


INTERRUPTED = "interrupted: run the same command again"


def classified_failures(fn: Callable) -> Callable:
    """An asset body whose failures are classified (explained_failures): a missing or corrupt
    stored artifact, a producer's ValueError, stored data that does not parse each fail at once
    with what to do, instead of being retried by the asset's RetryPolicy."""

    @functools.wraps(fn)
    def body(*args, **kwargs):
        try:
            with explained_failures(fn.__name__):
                return fn(*args, **kwargs)
        except (KeyboardInterrupt, DagsterExecutionInterruptedError):
            # Ctrl-C or SIGTERM: the run stops here; the retry policy must not start it again.
            raise dg.Failure(description=INTERRUPTED, allow_retries=False) from None

    return body


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~>])")


def md_escape(text: str) -> str:
    """User text as literal markdown: no links, images, HTML or emphasis can come out of it."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat).replace("&", "&amp;")


# Fields that identify where a call goes, not what it makes; keys never enter a content key.
_NOT_IDENTITY = {"api_key", "max_concurrency", "timeout_s", "max_retries", "known_voices"}


def producer_identity(producer: dg.ConfigurableResource) -> dict:
    """What makes two producers give the same output: class and settings, secrets excluded."""
    settings = producer.model_dump(exclude=_NOT_IDENTITY)
    return {"producer": type(producer).__name__, **settings}


# The role of each kind of producer: the name of its slots (producer_slot) and in its failures.
_ROLES = {
    LanguageModel: "llm",
    TextToSpeech: "tts",
    ImageGenerator: "images",
    MusicGenerator: "music",
    VideoGenerator: "video",
}


def role_of(producer: dg.ConfigurableResource) -> str:
    for kind, role in _ROLES.items():
        if isinstance(producer, kind):
            return role
    raise TypeError(f"{type(producer).__name__} is not a known kind of producer")


class Made(NamedTuple):
    """What a cached producer call gave: the artifact, the call's account, whether it was reused."""

    ref: ArtifactRef
    call: ProducerCall
    cached: bool

    def output(self, extra: dict | None = None, **files: ArtifactRef) -> dg.Output[Artifacts]:
        """The artifact as the output's `main` file (beside `files`), with the call's metadata."""
        return artifact_output(
            {"main": self.ref, **files}, call=self.call, cached=self.cached, extra=extra
        )


def writes_result(
    produce: Callable[[], tuple[BaseModel | str, ProducerCall]],
) -> Callable[[Path], ProducerCall]:
    """A `make` for a producer method that returns (result, call): the result is written to
    the artifact, a model as indented JSON, text as it is."""

    def make(out_path: Path) -> ProducerCall:
        result, call = produce()
        out_path.write_text(result if isinstance(result, str) else result.model_dump_json(indent=2))
        return call

    return make


def cached_call(
    context: dg.AssetExecutionContext,
    store: ArtifactStore,
    *,
    producer: dg.ConfigurableResource,
    role: str,
    key_parts: tuple,
    suffix: str,
    make: Callable[[Path], ProducerCall],
) -> Made:
    """Run `make(out_path)` once per distinct content key; returns (ref, call, was_cached).

    The key is the call's inputs plus the producer's identity; the producer's max_concurrency
    bounds how many calls of this role run at once across all processes. The call details are
    stored beside the ref so a cache hit still reports provider and model.
    """
    key = content_key(*key_parts, producer_identity(producer))
    # Two builds of the same movie at once wait for each other here, so a call is paid once.
    with content_lock(key), explained_failures(f"{role} provider"):
        return _cached_call_locked(context, store, key, producer, role, suffix, make)


def _cached_call_locked(
    context: dg.AssetExecutionContext,
    store: ArtifactStore,
    key: str,
    producer: dg.ConfigurableResource,
    role: str,
    suffix: str,
    make: Callable[[Path], ProducerCall],
) -> Made:
    ref = store.lookup(key)
    if ref is not None:
        call = store.lookup(key + ".call")
        details = (
            store.read_model(call, ProducerCall)  # verified; a damaged one fails classified
            if call
            else ProducerCall(provider=type(producer).__name__, model="unknown")
        )
        unpaid = {"estimated_cost_usd": 0.0} | ({"gpu_seconds": 0.0} if details.gpu_seconds else {})
        return Made(ref, details.model_copy(update=unpaid), True)
    made: list[ProducerCall] = []

    def write(out_path: Path) -> None:
        with producer_slot(role, producer.max_concurrency):
            made.append(make(out_path))

    ref = store.make(suffix, write)
    call = made[0]
    store.remember(key, ref)
    store.remember(key + ".call", store.put_bytes(call.model_dump_json().encode(), ".json"))
    record_call(
        movie_id=movie_key(context.partition_key),
        asset=context.asset_key.to_user_string(),
        partition=str(context.partition_key),
        call=call,
    )
    return Made(ref, call, False)


def artifact_output(
    files: dict[str, ArtifactRef],
    *,
    call: ProducerCall | None = None,
    cached: bool = False,
    extra: dict | None = None,
) -> dg.Output[Artifacts]:
    """An Output versioned by the hash of the produced bytes, with the standard metadata."""
    artifacts = Artifacts(files=files)
    main = artifacts.main
    metadata: dict = {
        # Where the artifact is stored; the UI refuses file:// links, so `view` is the link.
        "uri": dg.MetadataValue.text(main.uri),
        **preview_metadata(main),
        "sha256": main.sha256,
        "size_bytes": main.size,
        ARTIFACTS_METADATA_KEY: dg.MetadataValue.json(
            {name: ref.model_dump() for name, ref in files.items()}
        ),
    }
    if call is not None:
        metadata |= {
            "provider": call.provider,
            "model": call.model,
            "seed": call.seed if call.seed is not None else "none",
            "estimated_cost_usd": round(call.estimated_cost_usd, 6),
            "reused_cached_result": cached,
        }
        if call.tokens is not None:
            metadata["tokens"] = call.tokens
        if call.gpu_seconds is not None:
            metadata["gpu_seconds"] = round(call.gpu_seconds, 3)
        for name, value in (call.details or {}).items():
            # The producer's own account (pictures chosen, voice notes, credits).
            plain = isinstance(value, str | int | float | bool)
            metadata[name] = value if plain else dg.MetadataValue.json(value)
    metadata |= extra or {}
    version = content_key(*(f"{name}:{ref.sha256}" for name, ref in sorted(files.items())))
    return dg.Output(artifacts, metadata=metadata, data_version=dg.DataVersion(version[:24]))


class Step:
    """What an artifact asset's body works with: the run's context, the artifact store and the
    movie's inputs, read once from the `projects` resource."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        store: ArtifactStore,
        projects: ProjectStoreResource,
    ) -> None:
        self.context = context
        self.store = store
        self.projects = projects

    @functools.cached_property
    def inputs(self) -> MovieInputs:
        return self.projects.store().load(movie_key(self.context.partition_key))

    @property
    def slot(self) -> str:
        """The segment or shot of the partition (s03, s03i1)."""
        return slot_key(self.context.partition_key)

    def produce(
        self,
        producer: dg.ConfigurableResource,
        suffix: str,
        *,
        key: tuple,
        make: Callable[[Path], ProducerCall],
    ) -> Made:
        """`make` the artifact (a `suffix` file) through `producer`, once per distinct `key`."""
        return cached_call(
            self.context,
            self.store,
            producer=producer,
            role=role_of(producer),
            key_parts=key,
            suffix=suffix,
            make=make,
        )


# The parameters of the signature Dagster sees that a Step stands for.
_PARAMETER = inspect.Parameter.POSITIONAL_OR_KEYWORD
_CONTEXT = inspect.Parameter("context", _PARAMETER, annotation=dg.AssetExecutionContext)
_STEP_RESOURCES = (
    inspect.Parameter("store", _PARAMETER, annotation=ArtifactStore),
    inspect.Parameter("projects", _PARAMETER, annotation=ProjectStoreResource),
)


def _given_a_step(body: Callable) -> Callable:
    """`body(step, *artifacts_and_producers)` as the `fn(context, ..., store, projects)` that
    Dagster calls: the artifact store and the project store are resources of every such asset."""
    _, *given = inspect.signature(body).parameters.values()

    @functools.wraps(body)
    def fn(context: dg.AssetExecutionContext, store, projects, **given):
        return body(Step(context, store, projects), **given)

    fn.__signature__ = inspect.Signature(
        [_CONTEXT, *given, *_STEP_RESOURCES], return_annotation=dg.Output[Artifacts]
    )
    return fn


def artifact_asset(
    *,
    ins: Mapping[str, dg.PartitionMapping | dg.AssetIn | None] | None = None,
    calls_producer: bool = False,
    **asset_kwargs: Any,
) -> Callable[[Callable], dg.AssetsDefinition]:
    """`dg.asset` for an asset whose inputs and output are artifacts (the artifact IO manager).

    The body takes a `Step` (context, store, the movie's inputs) first, then the upstream
    artifacts and the producers it uses, as Dagster passes them.
    `ins` names the upstream assets read as artifacts, each with its partition mapping (None:
    Dagster's default) or a complete dg.AssetIn (fan-in metadata and the like).
    `calls_producer`: the asset calls a producer, so it is retried with PRODUCER_RETRY and its
    failures are classified (`classified_failures`)."""

    def decorate(body: Callable) -> dg.AssetsDefinition:
        asset_ins = {
            name: spec
            if isinstance(spec, dg.AssetIn)
            else dg.AssetIn(input_manager_key="artifact_io", partition_mapping=spec)
            for name, spec in (ins or {}).items()
        }
        fn = _given_a_step(body)
        if calls_producer:
            asset_kwargs.setdefault("retry_policy", PRODUCER_RETRY)
            fn = classified_failures(fn)
        return dg.asset(ins=asset_ins, io_manager_key="artifact_io", **asset_kwargs)(fn)

    return decorate
