"""Research, the script, and each segment's narration."""

import dagster as dg

from movie_assets.assets.inputs import brief_settings, narration_settings, plan_settings
from movie_assets.assets.producer_steps import (
    artifact_asset,
    artifact_output,
    cached_call,
    explained_failures,
    movie_inputs,
)
from movie_assets.io_manager import Artifacts, latest_artifacts
from movie_assets.partitions import (
    movie_partitions,
    movie_segment_partitions,
    same_movie,
    slot_key,
)
from resources.domain.documents import read_documents
from resources.domain.models import Research, Script, SegmentScript
from resources.producers.text.language_models import LanguageModel
from resources.storage.store import ArtifactStore

GROUP = "script"


@artifact_asset(
    partitions_def=movie_partitions,
    deps=["movie_brief"],
    group_name=GROUP,
    kinds={"llm"},
    description="Facts with their sources, from the prompt and the user's local documents.",
    calls_producer=True,
)
def research(
    context: dg.AssetExecutionContext, llm: LanguageModel, store: ArtifactStore
) -> dg.Output[Artifacts]:
    inputs = movie_inputs(context)
    request = inputs.request
    with explained_failures("research documents"):
        documents = read_documents(request.documents)

    def make(out_path):
        found, call = llm.research(request, documents)
        out_path.write_text(found.model_dump_json(indent=2))
        return call

    ref, call, cached = cached_call(
        context,
        store,
        key_parts=("research", brief_settings(inputs)),
        producer=llm,
        role="llm",
        suffix=".json",
        make=make,
    )
    found = store.read_model(ref, Research)
    return artifact_output(
        {"main": ref},
        call=call,
        cached=cached,
        extra={"facts": len(found.facts), "sources": len(found.sources)},
    )


@artifact_asset(
    partitions_def=movie_partitions,
    ins={"research": None},
    deps=["movie_brief", "movie_plan"],
    group_name=GROUP,
    kinds={"llm"},
    description="Title, summary and one narration per segment (one LLM call for the movie).",
    calls_producer=True,
)
def script(
    context: dg.AssetExecutionContext,
    research: Artifacts,
    llm: LanguageModel,
    store: ArtifactStore,
) -> dg.Output[Artifacts]:
    inputs = movie_inputs(context)
    request = inputs.request
    found = store.read_model(research.main, Research)
    # A longer or shorter movie keeps the segments it already has, so their downstream
    # artifacts stay valid; only a new brief (prompt, audience, language...) starts over.
    keep: list[SegmentScript] = []
    previous = latest_artifacts(context.instance, context.asset_key, context.partition_key)
    if previous is not None and previous.files.get("research") == research.main:
        keep = store.read_model(previous.main, Script).segments

    if len(keep) >= request.segment_count:
        old = store.read_model(previous.main, Script)
        written = old.model_copy(update={"segments": keep[: request.segment_count]})
        ref = store.put_model(written)
        call, cached = None, True
    else:

        def make(out_path):
            written, call = llm.write_script(request, found, keep)
            out_path.write_text(written.model_dump_json(indent=2))
            return call

        ref, call, cached = cached_call(
            context,
            store,
            key_parts=(
                "script",
                research.main.sha256,
                plan_settings(inputs),
                [s.model_dump() for s in keep],
            ),
            producer=llm,
            role="llm",
            suffix=".json",
            make=make,
        )
        written = store.read_model(ref, Script)
    return artifact_output(
        {"main": ref, "research": research.main},
        call=call,
        cached=cached,
        extra={
            "title": written.title,
            "segments": len(written.segments),
            "kept_segments": len(keep),
        },
    )


@artifact_asset(
    partitions_def=movie_segment_partitions,
    ins={"script": same_movie},
    deps=["segment_input"],
    group_name=GROUP,
    description="The text spoken in one segment: the script's, or the user's edit.",
)
def segment_narration(
    context: dg.AssetExecutionContext, script: Artifacts, store: ArtifactStore
) -> dg.Output[Artifacts]:
    inputs = movie_inputs(context)
    segment = slot_key(context.partition_key)
    index = int(segment[1:])
    written = store.read_model(script.main, Script)
    if index >= len(written.segments):
        raise dg.Failure(
            f"segment {segment} is outside the script's {len(written.segments)} segments; "
            "re-materialize `script` first"
        )
    narration = written.segments[index]
    edited = narration_settings(inputs, segment)["narration"]
    if edited:
        narration = narration.model_copy(update={"narration": edited})
    ref = store.put_model(narration)
    return artifact_output(
        {"main": ref},
        extra={
            "narration": narration.narration,
            "edited_by_user": bool(edited),
            "words": len(narration.narration.split()),
        },
    )
