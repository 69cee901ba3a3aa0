"""Research, the script, and each segment's narration."""

import dagster as dg

from movie_assets.assets.inputs import brief_settings, narration_settings, plan_settings
from movie_assets.assets.producer_steps import (
    Step,
    artifact_asset,
    artifact_output,
    explained_failures,
    writes_result,
)
from movie_assets.io_manager import Artifacts, latest_artifacts
from movie_assets.partitions import movie_partitions, movie_segment_partitions, same_movie
from resources.domain.documents import read_documents
from resources.domain.models import Research, Script, SegmentScript
from resources.producers.text.language_models import LanguageModel

GROUP = "script"


@artifact_asset(
    partitions_def=movie_partitions,
    deps=["movie_brief"],
    group_name=GROUP,
    kinds={"llm"},
    description="Facts with their sources, from the prompt and the user's local documents.",
    calls_producer=True,
)
def research(step: Step, llm: LanguageModel) -> dg.Output[Artifacts]:
    request = step.inputs.request
    with explained_failures("research documents"):
        documents = read_documents(request.documents)
    made = step.produce(
        llm,
        ".json",
        key=("research", brief_settings(step.inputs)),
        make=writes_result(lambda: llm.research(request, documents)),
    )
    found = step.store.read_model(made.ref, Research)
    return made.output(extra={"facts": len(found.facts), "sources": len(found.sources)})


@artifact_asset(
    partitions_def=movie_partitions,
    ins={"research": None},
    deps=["movie_brief", "movie_plan"],
    group_name=GROUP,
    kinds={"llm"},
    description="Title, summary and one narration per segment (one LLM call for the movie).",
    calls_producer=True,
)
def script(step: Step, research: Artifacts, llm: LanguageModel) -> dg.Output[Artifacts]:
    request = step.inputs.request
    found = step.store.read_model(research.main, Research)
    # A longer or shorter movie keeps the segments it already has, so their downstream
    # artifacts stay valid; only a new brief (prompt, audience, language...) starts over.
    keep: list[SegmentScript] = []
    context = step.context
    previous = latest_artifacts(context.instance, context.asset_key, context.partition_key)
    if previous is not None and previous.files.get("research") == research.main:
        keep = step.store.read_model(previous.main, Script).segments

    if len(keep) >= request.segment_count:
        old = step.store.read_model(previous.main, Script)
        written = old.model_copy(update={"segments": keep[: request.segment_count]})
        ref = step.store.put_model(written)
        call, cached = None, True
    else:
        ref, call, cached = step.produce(
            llm,
            ".json",
            key=(
                "script",
                research.main.sha256,
                plan_settings(step.inputs),
                [s.model_dump() for s in keep],
            ),
            make=writes_result(lambda: llm.write_script(request, found, keep)),
        )
        written = step.store.read_model(ref, Script)
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
def segment_narration(step: Step, script: Artifacts) -> dg.Output[Artifacts]:
    index = int(step.slot[1:])
    written = step.store.read_model(script.main, Script)
    if index >= len(written.segments):
        raise dg.Failure(
            f"segment {step.slot} is outside the script's {len(written.segments)} segments; "
            "re-materialize `script` first"
        )
    narration = written.segments[index]
    edited = narration_settings(step.inputs, step.slot)["narration"]
    if edited:
        narration = narration.model_copy(update={"narration": edited})
    ref = step.store.put_model(narration)
    return artifact_output(
        {"main": ref},
        extra={
            "narration": narration.narration,
            "edited_by_user": bool(edited),
            "words": len(narration.narration.split()),
        },
    )
