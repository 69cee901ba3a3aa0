"""The music prompt and the movie's background track."""

import dagster as dg

from movie_assets.assets.inputs import music_settings
from movie_assets.assets.producer_steps import (
    artifact_asset,
    artifact_output,
    cached_call,
    movie_inputs,
)
from movie_assets.io_manager import Artifacts
from movie_assets.partitions import movie_partitions
from resources.domain.models import Script
from resources.producers.music.procedural import MusicGenerator
from resources.producers.text.language_models import LanguageModel
from resources.storage.store import ArtifactStore

GROUP = "music"


@artifact_asset(
    partitions_def=movie_partitions,
    ins={"script": None},
    deps=["music_input"],
    group_name=GROUP,
    kinds={"llm"},
    description="Prompt for the music model: the user's, or written from the script.",
    calls_producer=True,
)
def music_prompt(
    context: dg.AssetExecutionContext, script: Artifacts, llm: LanguageModel, store: ArtifactStore
) -> dg.Output[Artifacts]:
    inputs = movie_inputs(context)
    edited = music_settings(inputs)["music_prompt"]
    if edited:
        ref = store.put_bytes(edited.encode(), ".txt")
        return artifact_output({"main": ref}, extra={"prompt": edited, "edited_by_user": True})
    written = store.read_model(script.main, Script)

    def make(out_path):
        text, call = llm.music_prompt(written, inputs.request.audience)
        out_path.write_text(text)
        return call

    ref, call, cached = cached_call(
        context,
        store,
        key_parts=("music_prompt", written.title, written.summary, inputs.request.audience.value),
        producer=llm,
        role="llm",
        suffix=".txt",
        make=make,
    )
    text = store.local_path(ref).read_text()
    return artifact_output(
        {"main": ref}, call=call, cached=cached, extra={"prompt": text, "edited_by_user": False}
    )


@artifact_asset(
    partitions_def=movie_partitions,
    ins={"music_prompt": None},
    deps=["music_input"],
    group_name=GROUP,
    kinds={"music"},
    description="Background music for the whole movie (WAV).",
    calls_producer=True,
)
def music_track(
    context: dg.AssetExecutionContext,
    music_prompt: Artifacts,
    music: MusicGenerator,
    store: ArtifactStore,
) -> dg.Output[Artifacts]:
    settings = music_settings(movie_inputs(context))
    prompt = store.local_path(music_prompt.main).read_text()

    def make(out_path):
        return music.compose(
            prompt, duration_s=settings["duration_s"], seed=settings["seed"], out_path=out_path
        )

    ref, call, cached = cached_call(
        context,
        store,
        key_parts=("music_track", prompt, settings["duration_s"], settings["seed"]),
        producer=music,
        role="music",
        suffix=".wav",
        make=make,
    )
    return artifact_output(
        {"main": ref},
        call=call,
        cached=cached,
        extra={"prompt": prompt, "duration_s": settings["duration_s"]},
    )
