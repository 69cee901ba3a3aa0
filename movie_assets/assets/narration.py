"""Narration audio per segment, with word timings for the captions."""

import dagster as dg

from movie_assets.assets.inputs import voice_settings
from movie_assets.assets.producer_steps import (
    artifact_asset,
    artifact_output,
    cached_call,
    movie_inputs,
)
from movie_assets.io_manager import Artifacts
from movie_assets.partitions import movie_segment_partitions, slot_key
from resources.domain.models import MAX_SPEECH_S, Emotion, Language, SegmentScript, SpeechTimings
from resources.producers.speech.text_to_speech import TextToSpeech
from resources.storage.store import ArtifactStore


@artifact_asset(
    partitions_def=movie_segment_partitions,
    ins={"segment_narration": None},
    deps=["voice_input"],
    group_name="narration",
    kinds={"tts"},
    description="Spoken narration (WAV) of one segment and its word timings (JSON).",
    calls_producer=True,
)
def narration_audio(
    context: dg.AssetExecutionContext,
    segment_narration: Artifacts,
    tts: TextToSpeech,
    store: ArtifactStore,
) -> dg.Output[Artifacts]:
    inputs = movie_inputs(context)
    voice = voice_settings(inputs, slot_key(context.partition_key))
    text = store.read_model(segment_narration.main, SegmentScript).narration
    timings_holder: dict[str, SpeechTimings] = {}

    def make(out_path):
        timings, call = tts.synthesize(
            text,
            voice=voice["voice"],
            language=Language(voice["language"]),
            emotion=Emotion(voice["emotion"]),
            max_duration_s=MAX_SPEECH_S,
            out_path=out_path,
        )
        timings_holder["t"] = timings
        return call

    audio, call, cached = cached_call(
        context,
        store,
        key_parts=("narration_audio", text, voice),
        producer=tts,
        role="tts",
        suffix=".wav",
        make=make,
    )
    if cached:
        timings_ref = store.lookup(audio.sha256 + ".timings")
        if timings_ref is None:
            raise dg.Failure("cached narration audio has no word timings; clear the cache entry")
        timings = store.read_model(timings_ref, SpeechTimings)
    else:
        timings = timings_holder["t"]
        timings_ref = store.put_model(timings)
        store.remember(audio.sha256 + ".timings", timings_ref)
    return artifact_output(
        {"main": audio, "timings": timings_ref},
        call=call,
        cached=cached,
        extra={
            "duration_s": round(timings.duration_s, 3),
            "words": len(timings.words),
            "voice": voice["voice"],
            "emotion": voice["emotion"],
            "text": text,
        },
    )
