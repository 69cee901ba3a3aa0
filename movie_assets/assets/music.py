"""The music prompt and the movie's background track."""

import dagster as dg

from movie_assets.assets.inputs import music_settings
from movie_assets.assets.producer_steps import Step, artifact_asset, artifact_output, writes_result
from movie_assets.io_manager import Artifacts
from movie_assets.partitions import movie_partitions
from resources.domain.models import Script
from resources.producers.music.procedural import MusicGenerator
from resources.producers.text.language_models import LanguageModel

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
def music_prompt(step: Step, script: Artifacts, llm: LanguageModel) -> dg.Output[Artifacts]:
    edited = music_settings(step.inputs)["music_prompt"]
    if edited:
        ref = step.store.put_bytes(edited.encode(), ".txt")
        return artifact_output({"main": ref}, extra={"prompt": edited, "edited_by_user": True})
    written = step.store.read_model(script.main, Script)
    audience = step.inputs.request.audience
    made = step.produce(
        llm,
        ".txt",
        key=("music_prompt", written.title, written.summary, audience.value),
        make=writes_result(lambda: llm.music_prompt(written, audience)),
    )
    text = step.store.local_path(made.ref).read_text()
    return made.output(extra={"prompt": text, "edited_by_user": False})


@artifact_asset(
    partitions_def=movie_partitions,
    ins={"music_prompt": None},
    deps=["music_input"],
    group_name=GROUP,
    kinds={"music"},
    description="Background music for the whole movie (WAV).",
    calls_producer=True,
)
def music_track(step: Step, music_prompt: Artifacts, music: MusicGenerator) -> dg.Output[Artifacts]:
    settings = music_settings(step.inputs)
    prompt = step.store.local_path(music_prompt.main).read_text()
    duration_s, seed = settings["duration_s"], settings["seed"]
    made = step.produce(
        music,
        ".wav",
        key=("music_track", prompt, duration_s, seed),
        make=lambda out: music.compose(prompt, duration_s=duration_s, seed=seed, out_path=out),
    )
    return made.output(extra={"prompt": prompt, "duration_s": duration_s})
