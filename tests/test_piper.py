"""The offline default voice: piper's bundled neural English voice, espeak-ng for the rest.

Word timings are checked against onsets found in the audio itself, as for espeak."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from resources.domain.models import Language
from resources.producers.speech import piper_voice
from resources.producers.speech.text_to_speech import (
    OfflineVoice,
    _align_words,
    parse_wav,
    wav_duration_s,
)
from tests.test_tts import TWO_SENTENCES, speech_onsets, synthesize


def speak(text: str, out_path: Path, **overrides):
    return synthesize(OfflineVoice(), text, out_path, **overrides)


def test_english_narration_is_piper_with_timings_from_the_voice(tmp_path):
    out = tmp_path / "a.wav"
    timings, call = speak(TWO_SENTENCES, out)
    assert call.provider == "piper"
    assert "en_US-joe-medium" in call.model
    assert "CC0" in call.details["voice_credit"]
    assert abs(wav_duration_s(out) - timings.duration_s) <= 0.05
    assert [w.word for w in timings.words] == TWO_SENTENCES.split()
    samples, rate = parse_wav(out.read_bytes())
    assert rate == 22050 and np.abs(samples.astype(int)).max() > 1000
    onsets = speech_onsets(samples, rate)
    assert abs(timings.words[0].start_s - onsets[0]) <= 0.3
    # The sentence break: "Many" starts where the voice starts again after the pause.
    later = [t for t in speech_onsets(samples, rate, min_silence_s=0.2) if t > 0.5]
    many = next(w for w in timings.words if w.word == "Many")
    assert later and abs(many.start_s - later[0]) <= 0.3
    previous = 0.0
    for word in timings.words:
        assert previous <= word.start_s <= word.end_s <= timings.duration_s
        previous = word.start_s


def test_piper_is_deterministic(tmp_path):
    speak("Lava flows down the side of the mountain.", tmp_path / "a.wav")
    speak("Lava flows down the side of the mountain.", tmp_path / "b.wav")
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_unsupported_language_falls_back_to_espeak_with_a_note(tmp_path):
    timings, call = speak("El volcán entra en erupción.", tmp_path / "a.wav", language=Language.es)
    assert call.provider == "espeak-ng"
    assert "English only" in call.details["voice_note"] and "Spanish" in call.details["voice_note"]
    assert [w.word for w in timings.words] == ["El", "volcán", "entra", "en", "erupción."]


def test_espeak_variant_voice_is_spoken_by_espeak(tmp_path):
    _, call = speak("A small test.", tmp_path / "a.wav", voice="f3")
    assert call.provider == "espeak-ng" and call.model.endswith("+f3")
    assert "variant" in call.details["voice_note"]
    assert "joe" in OfflineVoice().voices() and "f3" in OfflineVoice().voices()


def test_long_text_is_spoken_faster_to_fit(tmp_path):
    text = " ".join(["Magma rises through the crust and erupts as lava."] * 3)
    timings, call = speak(text, tmp_path / "a.wav", max_duration_s=6.0)
    assert timings.duration_s <= 6.0
    assert "length scale" in call.model and "length scale 1)" not in call.model


def test_measured_rate_matches_the_writer_budget():
    text = (
        "Volcanoes are openings in the crust where molten rock reaches the surface. "
        "Mount Etna in Sicily is one of the most active volcanoes on Earth."
    )
    speech = piper_voice.speak(text)
    seconds = len(speech.samples) / speech.sample_rate
    per_word = seconds / len(text.split())
    assert per_word <= piper_voice.SECONDS_PER_WORD, per_word


@pytest.mark.parametrize(
    ("words", "spoken", "expected_starts"),
    [
        # espeak joins "in the": the two share that spoken word by length.
        (["cracks", "in", "the", "crust."], [(0, 1, 5), (1, 2, 4), (2, 3, 5)], [0, 1, 1.4, 2]),
        # a number is several spoken words
        (["about", "1999", "times."], [(0, 1, 4), (1, 2, 6), (2, 3, 6), (3, 4, 5)], [0, 1, 3]),
    ],
)
def test_alignment_of_tokens_to_spoken_words(words, spoken, expected_starts):
    starts = [round(s, 2) for s, _ in _align_words(words, spoken)]
    assert starts == pytest.approx(expected_starts, abs=0.01)
