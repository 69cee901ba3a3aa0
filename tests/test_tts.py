"""Text to speech: real espeak-ng synthesis, and the real `openai` client against the local
stand-in of the OpenAI API. Word timings are checked against onsets found in the audio itself."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from resources.domain.models import Emotion, Language
from resources.producers.speech.text_to_speech import (
    ESPEAK_VOICES,
    LANGUAGE_NAMES,
    EspeakTTS,
    OpenAITTS,
    SpeechProviderError,
    parse_wav,
    timings_from_audio,
    wav_duration_s,
)
from tests.openai_standin import OpenAIStandIn

TWO_SENTENCES = "The river runs past the old mill. Many small fish live in its cold water."
API_KEY = "sk-test-secret-0123456789"


def synthesize(tts, text: str, out_path: Path, **overrides):
    """`tts.synthesize`: an English line, default voice, neutral, at most 9.3 s; `overrides`
    change any of these."""
    args = dict(
        voice="default",
        language=Language.en,
        emotion=Emotion.neutral,
        max_duration_s=9.3,
        out_path=out_path,
    )
    args.update(overrides)
    return tts.synthesize(text, **args)


def speak(text: str, out_path: Path, **overrides):
    return synthesize(EspeakTTS(), text, out_path, **overrides)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    return parse_wav(path.read_bytes())


def speech_onsets(samples: np.ndarray, rate: int, min_silence_s: float = 0.15) -> list[float]:
    """Times where sound starts after at least min_silence_s of quiet (or at the clip start).

    Deliberately independent of resources.producers.speech.text_to_speech: 10 ms RMS frames against
    5% of the loudest.
    """
    frame = rate // 100
    count = len(samples) // frame
    rms = np.sqrt((samples[: count * frame].astype(float).reshape(count, frame) ** 2).mean(1))
    loud = rms > 0.05 * rms.max()
    onsets, quiet_frames = [], 10**9
    for index, is_loud in enumerate(loud):
        if is_loud:
            if quiet_frames * 0.01 >= min_silence_s:
                onsets.append(index * 0.01)
            quiet_frames = 0
        else:
            quiet_frames += 1
    return onsets


# --- espeak ------------------------------------------------------------------------------------


def test_espeak_writes_wav_matching_timings(tmp_path):
    out = tmp_path / "clips" / "s00.wav"  # the folder does not exist yet
    text = "Dolphins sleep with one half of the brain at a time."
    timings, call = speak(text, out)

    assert abs(wav_duration_s(out) - timings.duration_s) <= 0.05
    samples, rate = read_wav(out)
    assert np.abs(samples.astype(int)).max() > 1000, "audio is silent"
    assert [w.word for w in timings.words] == text.split()
    previous_start = 0.0
    for word in timings.words:
        assert previous_start <= word.start_s <= word.end_s <= timings.duration_s
        previous_start = word.start_s
    assert call.provider == "espeak-ng"
    assert call.model.startswith("espeak-ng 1.") and call.model.endswith(" en-us")
    assert call.estimated_cost_usd == 0.0
    assert [p.name for p in out.parent.iterdir()] == ["s00.wav"], "temp file left behind"


def test_espeak_first_word_starts_at_speech_onset(tmp_path):
    timings, _ = speak(TWO_SENTENCES, tmp_path / "a.wav")
    onsets = speech_onsets(*read_wav(tmp_path / "a.wav"))
    assert abs(timings.words[0].start_s - onsets[0]) <= 0.3


@pytest.mark.parametrize("emotion", [Emotion.neutral, Emotion.calm, Emotion.excited])
def test_espeak_word_after_pause_starts_at_onset_after_pause(tmp_path, emotion):
    timings, _ = speak(TWO_SENTENCES, tmp_path / "a.wav", emotion=emotion)
    samples, rate = read_wav(tmp_path / "a.wav")
    many = next(w for w in timings.words if w.word == "Many")
    # The full stop makes espeak pause; the onset after that pause is where "Many" is heard.
    onsets = [t for t in speech_onsets(samples, rate, min_silence_s=0.2) if t > 0.5]
    assert onsets, "expected a pause between the two sentences"
    assert abs(many.start_s - onsets[0]) <= 0.3
    mill = next(w for w in timings.words if w.word == "mill.")
    assert mill.end_s < onsets[0], "the word before the pause should end when the voice stops"


def test_espeak_speeds_up_to_fit_max_duration(tmp_path):
    text = " ".join(["The ancient library held thousands of fragile scrolls."] * 3)
    natural, _ = speak(text, tmp_path / "natural.wav", max_duration_s=60)
    assert natural.duration_s > 6.0, "test text must be too long for the limit at normal rate"

    fitted, _ = speak(text, tmp_path / "fitted.wav", max_duration_s=6.0)
    assert fitted.duration_s <= 6.0
    assert wav_duration_s(tmp_path / "fitted.wav") <= 6.0
    assert len(fitted.words) == len(text.split())
    assert fitted.words[-1].end_s <= fitted.duration_s


def test_espeak_impossible_max_duration_raises(tmp_path):
    text = " ".join(["Extraordinarily complicated pronunciation exercises."] * 20)
    with pytest.raises(ValueError, match="max_duration"):
        speak(text, tmp_path / "a.wav", max_duration_s=2.0)
    assert not (tmp_path / "a.wav").exists()


@pytest.mark.parametrize(
    "language, text",
    [
        (Language.en, "The sun rises over the quiet harbour."),
        (Language.es, "El sol sale sobre el puerto tranquilo."),
        (Language.de, "Die Sonne geht über dem stillen Hafen auf."),
        (Language.ru, "Солнце встаёт над тихой гаванью."),
        (Language.el, "Ο ήλιος ανατέλλει πάνω από το ήσυχο λιμάνι."),
    ],
)
def test_espeak_languages(tmp_path, language, text):
    timings, call = speak(text, tmp_path / "a.wav", language=language)
    assert timings.duration_s > 1.0
    assert [w.word for w in timings.words] == text.split()
    starts = [w.start_s for w in timings.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert call.model.endswith(ESPEAK_VOICES[language.value])


def test_every_language_has_a_voice():
    for language in Language:
        assert language.value in ESPEAK_VOICES
        assert language.value in LANGUAGE_NAMES


def test_espeak_voice_variant(tmp_path):
    timings, call = speak("A voice variant test.", tmp_path / "a.wav", voice="f3")
    assert call.model.endswith("en-us+f3")
    assert len(timings.words) == 4


def test_espeak_unknown_voice_names_the_field(tmp_path):
    with pytest.raises(ValueError, match=r"voice 'nosuchvoice'.*'default'.*f3"):
        speak("Hello there.", tmp_path / "a.wav", voice="nosuchvoice")


def test_espeak_is_safe_from_threads(tmp_path):
    texts = [f"Thread number {n} reads this sentence aloud." for n in range(6)]
    serial = [speak(t, tmp_path / f"serial{n}.wav")[0] for n, t in enumerate(texts)]
    results: dict[int, object] = {}

    def work(n: int) -> None:
        results[n] = speak(texts[n], tmp_path / f"thread{n}.wav")[0]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # espeak adds a little random noise, so runs differ by a few samples, never by words;
    # without the lock, concurrent calls would mix each other's audio and events.
    for n in range(len(texts)):
        alone, together = serial[n], results[n]
        assert abs(alone.duration_s - together.duration_s) <= 0.05
        assert [w.word for w in together.words] == texts[n].split()
        for a, b in zip(alone.words, together.words, strict=True):
            assert abs(a.start_s - b.start_s) <= 0.05
        assert abs(wav_duration_s(tmp_path / f"thread{n}.wav") - together.duration_s) <= 0.01


# --- timings estimated from audio (used for OpenAI) --------------------------------------------


def test_estimated_timings_follow_pauses_in_real_speech(tmp_path):
    # espeak audio stands in for a provider that gives no timings; espeak's own events are
    # the reference, the estimator only sees the samples.
    reference, _ = speak(TWO_SENTENCES, tmp_path / "a.wav")
    samples, rate = read_wav(tmp_path / "a.wav")
    estimated = timings_from_audio(TWO_SENTENCES, samples, rate)
    assert [w.word for w in estimated] == TWO_SENTENCES.split()
    after_pause = [t for t in speech_onsets(samples, rate, min_silence_s=0.2) if t > 0.5][0]
    many = next(w for w in estimated if w.word == "Many")
    assert abs(many.start_s - after_pause) <= 0.3
    assert abs(estimated[0].start_s - reference.words[0].start_s) <= 0.3
    for word in estimated:
        assert 0 <= word.start_s <= word.end_s <= len(samples) / rate + 1e-9


def test_parse_wav_accepts_streamed_placeholder_sizes():
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(np.arange(2400, dtype="<i2").tobytes())
    data = bytearray(buffer.getvalue())
    data[4:8] = b"\xff\xff\xff\xff"  # RIFF size, as a streaming server writes it
    data[40:44] = b"\xff\xff\xff\xff"  # data chunk size
    samples, rate = parse_wav(bytes(data))
    assert rate == 24_000 and len(samples) == 2400 and samples[-1] == 2399


# --- OpenAI against the local stand-in ---------------------------------------------------------


def openai_tts(standin: OpenAIStandIn) -> OpenAITTS:
    return OpenAITTS(api_key=API_KEY, base_url=standin.base_url, max_retries=0, timeout_s=10)


def test_openai_request_and_timings(tmp_path):
    text = "Bees dance to tell the hive where flowers are. It works remarkably well."
    with OpenAIStandIn() as standin:
        tts = openai_tts(standin)
        timings, call = synthesize(tts, text, tmp_path / "a.wav", emotion=Emotion.excited)
    [(path, body, headers)] = standin.requests
    assert path == "/v1/audio/speech"
    assert body["model"] == "gpt-4o-mini-tts"
    assert body["voice"] == "alloy"
    assert body["input"] == text
    assert body["response_format"] == "wav"
    assert body["speed"] == 1.0
    assert "enthusiasm" in body["instructions"] and "English" in body["instructions"]
    assert headers.get("Authorization", headers.get("authorization")) == f"Bearer {API_KEY}"

    assert [w.word for w in timings.words] == text.split()
    assert abs(wav_duration_s(tmp_path / "a.wav") - timings.duration_s) <= 0.05
    starts = [w.start_s for w in timings.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start_s <= w.end_s <= timings.duration_s for w in timings.words)
    onsets = speech_onsets(*read_wav(tmp_path / "a.wav"), min_silence_s=0.1)
    assert abs(timings.words[0].start_s - onsets[0]) <= 0.3
    assert call.provider == "openai" and call.model == "gpt-4o-mini-tts alloy"
    assert call.estimated_cost_usd == pytest.approx(len(text) * 15.0 / 1e6)


def test_openai_named_voice_is_passed_through(tmp_path):
    with OpenAIStandIn() as standin:
        synthesize(
            openai_tts(standin),
            "Short line.",
            tmp_path / "a.wav",
            voice="nova",
            language=Language.de,
            emotion=Emotion.calm,
        )
    body = standin.requests[0][1]
    assert body["voice"] == "nova" and "German" in body["instructions"]


@pytest.mark.parametrize("status", [400, 500])
def test_openai_http_errors_surface_with_server_message(tmp_path, status):
    with OpenAIStandIn() as standin:
        standin.fail_with = (status, "Input text is too spicy for this voice")
        with pytest.raises(SpeechProviderError) as caught:
            synthesize(openai_tts(standin), "Hello.", tmp_path / "a.wav")
    message = str(caught.value)
    assert "Input text is too spicy for this voice" in message and str(status) in message
    assert API_KEY not in message and caught.value.__cause__ is None
    assert not (tmp_path / "a.wav").exists()


def test_openai_too_long_retries_faster_then_fails_clearly(tmp_path):
    # The stand-in ignores `speed`, so the clip never shrinks: a second, faster request is made
    # and then the producer gives up instead of looping.
    text = " ".join(["word"] * 60)
    with OpenAIStandIn() as standin:
        with pytest.raises(ValueError, match="max_duration_s"):
            synthesize(openai_tts(standin), text, tmp_path / "a.wav", max_duration_s=3.0)
    speeds = [body["speed"] for _, body, _ in standin.requests]
    assert len(speeds) == 2 and speeds[0] == 1.0 and 1.0 < speeds[1] <= 4.0


def test_openai_key_not_in_repr_or_dump():
    tts = OpenAITTS(api_key=API_KEY)
    assert API_KEY not in repr(tts)
    assert API_KEY not in str(tts.model_dump())  # narration puts model_dump() in cache keys
