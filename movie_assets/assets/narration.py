"""Narration audio per segment, with word timings for the captions."""

import dagster as dg

from movie_assets.assets.inputs import voice_settings
from movie_assets.assets.producer_steps import Step, artifact_asset
from movie_assets.io_manager import Artifacts
from movie_assets.partitions import movie_segment_partitions
from resources.domain.models import MAX_SPEECH_S, Emotion, Language, SegmentScript, SpeechTimings
from resources.producers.speech.text_to_speech import TextToSpeech


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
    step: Step, segment_narration: Artifacts, tts: TextToSpeech
) -> dg.Output[Artifacts]:
    voice = voice_settings(step.inputs, step.slot)
    store = step.store
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

    made = step.produce(tts, ".wav", key=("narration_audio", text, voice), make=make)
    audio = made.ref
    if made.cached:
        timings_ref = store.lookup(audio.sha256 + ".timings")
        if timings_ref is None:
            raise dg.Failure("cached narration audio has no word timings; clear the cache entry")
        timings = store.read_model(timings_ref, SpeechTimings)
    else:
        timings = timings_holder["t"]
        timings_ref = store.put_model(timings)
        store.remember(audio.sha256 + ".timings", timings_ref)
    return made.output(
        timings=timings_ref,
        extra={
            "duration_s": round(timings.duration_s, 3),
            "words": len(timings.words),
            "voice": voice["voice"],
            "emotion": voice["emotion"],
            "text": text,
        },
    )
