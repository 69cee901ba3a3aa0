"""Background music.

`ProceduralMusic` is the offline default: the music prompt's mood words pick a tempo, key,
mode, chord progression and instruments (`plan_music`); the layers (pads, drone, bass,
arpeggio, drums) are synthesised with numpy from wavetables and mixed with pydub.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dagster as dg
import numpy as np

from resources.domain.models import ProducerCall
from resources.runtime.settings import ffmpeg_exe
from resources.storage.atomic import atomic_file

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is not on PATH; WAV needs none, and we point it at
    # imageio-ffmpeg's binary below for any other format.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment

AudioSegment.converter = ffmpeg_exe()

SAMPLE_RATE = 44_100


class MusicGenerator(dg.ConfigurableResource, ABC):
    """Writes a 44.1 kHz stereo WAV of duration_s seconds whose mood follows the prompt."""

    max_concurrency: int = 2

    @abstractmethod
    def compose(
        self, prompt: str, *, duration_s: float, seed: int, out_path: Path
    ) -> ProducerCall: ...


# --------------------------------------------------------------------------------------------
# The plan: mood words -> tempo, key, mode, progression, instruments
# --------------------------------------------------------------------------------------------

Mood = Literal["calm", "epic", "happy", "sad", "mysterious", "neutral"]
Mode = Literal["major", "minor"]
Instrument = Literal["pad", "drone", "bass", "bell", "pluck", "piano", "drums", "heartbeat"]

# Chord = (semitones above the key's root, quality).
_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "add9": (0, 4, 7, 14),
    "madd9": (0, 3, 7, 14),
    "sus2": (0, 2, 7),
}
_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class _Profile:
    keywords: tuple[str, ...]  # exact words; a trailing * matches as a prefix
    tempo: float
    mode: Mode
    roots: tuple[int, ...]  # MIDI notes of candidate keys, picked by the prompt's hash
    progression: tuple[tuple[int, str], ...]
    numerals: str
    bars_per_chord: int
    instruments: tuple[Instrument, ...]


_PROFILES: dict[Mood, _Profile] = {
    "calm": _Profile(
        ("calm*", "ambient", "peace*", "relax*", "seren*", "gentle", "soft", "chill*",
         "tranquil*", "sooth*", "meditat*", "quiet", "dream*", "lofi", "lullaby", "nature"),
        72, "major", (53, 55, 50, 48), ((0, "maj7"), (7, "add9"), (9, "m7"), (5, "maj7")),
        "Imaj7-Vadd9-vi7-IVmaj7", 2, ("pad", "bass", "bell"),
    ),
    "epic": _Profile(
        ("epic", "dramatic", "drama", "intens*", "hero*", "power*", "cinematic", "action",
         "battle*", "triumph*", "orchestral", "adventur*", "war", "grand", "majestic", "rising"),
        124, "minor", (50, 48, 52), ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),
        "i-VI-III-VII", 1, ("pad", "drone", "bass", "pluck", "drums"),
    ),
    "happy": _Profile(
        ("happy", "happiness", "upbeat", "playful", "cheer*", "fun", "funny", "bright",
         "joy*", "energetic", "kids", "sunny", "whimsical", "bouncy", "positive", "uplifting",
         "optimistic", "summer", "party", "celebrat*"),
        116, "major", (55, 48, 50, 57), ((0, "maj"), (9, "min"), (5, "maj"), (7, "maj")),
        "I-vi-IV-V", 1, ("pad", "bass", "pluck", "drums"),
    ),
    "sad": _Profile(
        ("sad", "sadness", "melanchol*", "somber", "sombre", "emotional", "nostalgi*", "tragic",
         "tragedy", "grief", "lonely", "loneliness", "sorrow*", "mourn*", "bittersweet",
         "reflective", "tears", "wistful", "longing", "loss"),
        66, "minor", (57, 52, 50), ((0, "madd9"), (8, "maj7"), (5, "m7"), (7, "min")),
        "i(add9)-VImaj7-iv7-v", 2, ("pad", "bass", "piano"),
    ),
    "mysterious": _Profile(
        ("myster*", "dark*", "suspense*", "eerie", "tense", "tension", "ominous", "spooky",
         "horror", "creep*", "sinister", "enigma*", "noir", "haunt*", "thriller", "unknown",
         "secret*", "shadow*", "night"),
        84, "minor", (49, 50, 53), ((0, "min"), (1, "maj"), (0, "min"), (10, "sus2")),
        "i-bII-i-bVIIsus2", 2, ("drone", "pad", "pluck", "heartbeat"),
    ),
    "neutral": _Profile(
        (), 100, "major", (48, 55, 53, 50), ((0, "maj"), (5, "maj"), (9, "min"), (7, "maj")),
        "I-IV-vi-V", 1, ("pad", "bass", "pluck", "drums"),
    ),
}

_SLOWER = frozenset({"slow", "slower", "slowly", "laid-back", "sparse", "minimal"})
_FASTER = frozenset({"fast", "faster", "quick", "driving", "racing", "pulsing", "urgent"})


@dataclass(frozen=True)
class MusicPlan:
    """What `plan_music` heard in a prompt; a pure function of the prompt text."""

    mood: Mood
    tempo_bpm: float
    mode: Mode
    key: str  # e.g. "D minor"
    root_midi: int
    progression: str  # roman numerals, for logs and tests
    chords: tuple[tuple[int, str], ...]
    bars_per_chord: int
    instruments: tuple[Instrument, ...]


def _digest(*parts: object) -> int:
    """Stable across processes (unlike hash()), so plans and renders are reproducible."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _matches(token: str, keyword: str) -> bool:
    return token.startswith(keyword[:-1]) if keyword.endswith("*") else token == keyword


def detect_mood(prompt: str) -> Mood:
    """The mood with the most keyword hits; ties go to the one mentioned first."""
    tokens = re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", prompt.lower())
    scores: dict[Mood, tuple[int, int]] = {}
    for mood, profile in _PROFILES.items():
        hits = [
            i for i, tok in enumerate(tokens) if any(_matches(tok, k) for k in profile.keywords)
        ]
        if hits:
            scores[mood] = (len(hits), -hits[0])
    if not scores:
        return "neutral"
    return max(scores, key=lambda m: scores[m])


def plan_music(prompt: str) -> MusicPlan:
    """Mood, tempo, key, mode, progression and instruments for a music prompt."""
    mood = detect_mood(prompt)
    profile = _PROFILES[mood]
    words = set(re.findall(r"[\w-]+", prompt.lower()))
    key = _digest("music-key", prompt)
    # A small per-prompt nudge so two "calm" prompts are not the same song at the same speed.
    tempo = profile.tempo + (key % 7) - 3
    if words & _SLOWER:
        tempo *= 0.85
    if words & _FASTER:
        tempo *= 1.15
    explicit = re.search(r"(\d{2,3})\s*bpm", prompt.lower())
    if explicit:
        tempo = float(explicit.group(1))
    tempo = round(float(min(max(tempo, 50.0), 180.0)), 1)
    root = profile.roots[(key >> 8) % len(profile.roots)]
    return MusicPlan(
        mood=mood,
        tempo_bpm=tempo,
        mode=profile.mode,
        key=f"{_NOTE_NAMES[root % 12]} {profile.mode}",
        root_midi=root,
        progression=profile.numerals,
        chords=profile.progression,
        bars_per_chord=profile.bars_per_chord,
        instruments=profile.instruments,
    )


# --------------------------------------------------------------------------------------------
# Synthesis: wavetable oscillators, envelopes, one-shot drums (all numpy, no per-sample loops)
# --------------------------------------------------------------------------------------------

_TABLE_SIZE = 4096


def _table(amplitudes: dict[int, float]) -> np.ndarray:
    phase = np.arange(_TABLE_SIZE) * (2 * np.pi / _TABLE_SIZE)
    wave = sum(a * np.sin(k * phase) for k, a in amplitudes.items())
    return (wave / np.abs(wave).max()).astype(np.float32)


_SINE = _table({1: 1.0})
_WARM = _table({k: 1 / k**1.6 for k in range(1, 7)})  # soft saw: pads, bass
_BRIGHT = _table({k: 1 / k for k in range(1, 13)})  # saw: plucks, epic strings
_HOLLOW = _table({k: 1 / k for k in range(1, 10, 2)})  # odd harmonics: dark, woody


def _freq(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _osc(
    table: np.ndarray, freq: float, n: int, phase: float = 0.0, start: int = 0
) -> np.ndarray:
    """Table lookup oscillator: a gather per sample instead of a sin() per harmonic.

    `start` continues the waveform from sample `start`, so long tones can be made in chunks."""
    step = freq * _TABLE_SIZE / SAMPLE_RATE
    positions = np.arange(start, start + n, dtype=np.float64)
    idx = (positions * step + phase * _TABLE_SIZE).astype(np.int64)
    return table[idx & (_TABLE_SIZE - 1)]


def _gains(pan: float, gain: float = 1.0) -> tuple[float, float]:
    """Constant-power pan, -1 (left) to 1 (right), as (left, right) gains."""
    angle = (pan + 1) * np.pi / 4
    return gain * math.cos(angle), gain * math.sin(angle)


def _place(buf: np.ndarray, start_s: float, sound: np.ndarray, pan: float = 0.0,
           gain: float = 1.0) -> None:
    """Mix a sound into a planar (2, n) buffer at start_s. Mono sounds are panned."""
    start = int(round(start_s * SAMPLE_RATE))
    length = buf.shape[1]
    if start >= length:
        return
    end = min(start + sound.shape[-1], length)
    if sound.ndim == 1:
        left, right = _gains(pan, gain)
        buf[0, start:end] += sound[: end - start] * left
        buf[1, start:end] += sound[: end - start] * right
    else:
        buf[:, start:end] += sound[:, : end - start] * gain


def _pluck_env(n: int, attack_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
    return np.minimum(t / attack_s, 1.0) * np.exp(-t / decay_s)


def _asr_env(n: int, attack_s: float, release_s: float) -> np.ndarray:
    """Rise over attack_s, hold, fall over the last release_s of the n samples."""
    t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
    total = n / SAMPLE_RATE
    rise = np.minimum(t / attack_s, 1.0)
    fall = np.clip((total - t) / release_s, 0.0, 1.0)
    return (rise * fall) ** 1.5  # a little curvature sounds smoother than linear ramps


def _fade_tail(sound: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    """Ramp the last few ms to zero: a note cut off mid-decay would click."""
    k = min(int(seconds * SAMPLE_RATE), len(sound))
    sound[len(sound) - k:] *= np.linspace(1.0, 0.0, k, dtype=np.float32)
    return sound


class _Synth:
    """Renders notes with a cache: a 5-minute track repeats the same few hundred notes."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self._cache: dict[tuple, np.ndarray] = {}

    def pluck(self, midi: int, decay_s: float, table: np.ndarray, name: str) -> np.ndarray:
        key = ("pluck", name, midi, decay_s)
        if key not in self._cache:
            n = int(decay_s * 4 * SAMPLE_RATE)  # -35 dB: inaudible in the mix
            f = _freq(midi)
            env = _pluck_env(n, 0.004, decay_s)
            # Brightness fades faster than loudness, as in a plucked string.
            bright = _osc(table, f, n) * env**3
            body = _osc(_WARM, f, n) * env
            self._cache[key] = _fade_tail((0.5 * bright + 0.6 * body).astype(np.float32))
        return self._cache[key]

    def bell(self, midi: int, decay_s: float) -> np.ndarray:
        key = ("bell", midi, decay_s)
        if key not in self._cache:
            n = int(decay_s * 4 * SAMPLE_RATE)
            f = _freq(midi)
            # Inharmonic partials (x2.76, x5.4) are what make a bell a bell.
            tone = (_osc(_SINE, f, n) * _pluck_env(n, 0.003, decay_s)
                    + 0.35 * _osc(_SINE, f * 2.76, n) * _pluck_env(n, 0.002, decay_s * 0.4)
                    + 0.15 * _osc(_SINE, f * 5.4, n) * _pluck_env(n, 0.001, decay_s * 0.2))
            self._cache[key] = _fade_tail(tone.astype(np.float32))
        return self._cache[key]

    def pad(self, notes: tuple[int, ...], seconds: float, attack_s: float, release_s: float,
            table: np.ndarray) -> np.ndarray:
        """A held chord, stereo (2, n): each note two slightly detuned voices, one per side."""
        key = ("pad", notes, round(seconds, 4), attack_s, release_s, id(table))
        if key not in self._cache:
            n = int((seconds + release_s) * SAMPLE_RATE)
            out = np.zeros((2, n), dtype=np.float32)
            for i, midi in enumerate(notes):
                f = _freq(midi)
                out[0] += _osc(table, f * 0.9971, n, phase=0.13 * i)  # -5 cents
                out[1] += _osc(table, f * 1.0029, n, phase=0.37 * i)  # +5 cents
            out *= _asr_env(n, attack_s, release_s) / len(notes)
            self._cache[key] = out
        return self._cache[key]

    def kick(self, low: float = 45.0, depth: float = 110.0, decay_s: float = 0.28) -> np.ndarray:
        key = ("kick", low, depth, decay_s)
        if key not in self._cache:
            n = int(decay_s * 5 * SAMPLE_RATE)
            t = np.arange(n) / SAMPLE_RATE
            freq = low + depth * np.exp(-t / 0.04)  # the pitch drop is the "thump"
            phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
            self._cache[key] = _fade_tail((np.sin(phase) * np.exp(-t / decay_s)).astype(np.float32))
        return self._cache[key]

    def noise_hit(self, name: str, decay_s: float, tone_hz: float = 0.0,
                  highpass: int = 1) -> np.ndarray:
        """Snares, claps, hats and shakers: seeded noise, differenced to tilt it brighter."""
        key = ("noise", name)
        if key not in self._cache:
            n = int(min(decay_s * 6, 0.6) * SAMPLE_RATE)
            t = np.arange(n) / SAMPLE_RATE
            noise = self.rng.standard_normal(n + highpass)
            for _ in range(highpass):
                noise = np.diff(noise)
            noise /= np.abs(noise).max()
            hit = noise * np.exp(-t / decay_s)
            if tone_hz:
                hit += 0.6 * np.sin(2 * np.pi * tone_hz * t) * np.exp(-t / (decay_s * 0.5))
            self._cache[key] = _fade_tail(hit.astype(np.float32))
        return self._cache[key]

    def tom(self, midi_hz: float) -> np.ndarray:
        return self.kick(low=midi_hz, depth=midi_hz * 0.7, decay_s=0.25)


def _echo(buf: np.ndarray, dry: np.ndarray, delay_s: float, feedback: float,
          taps: int = 3) -> None:
    """Ping-pong delay in place: cheap space, each repeat on the opposite side.

    `dry` is a scratch buffer of the same shape that receives a copy of the input; reusing
    it avoids a fresh 100 MB allocation (page faults cost more than the arithmetic here)."""
    d = int(delay_s * SAMPLE_RATE)
    n = buf.shape[1]
    np.copyto(dry, buf)
    for k in range(1, taps + 1):
        if d * k >= n:
            break
        src, dst = (0, 1) if k % 2 else (1, 0)
        buf[dst, d * k:] += dry[src, : n - d * k] * feedback**k


def _in_octave(midi: int, low: int) -> int:
    """Move a note by octaves into [low, low + 12): simple voice leading."""
    return low + (midi - low) % 12


# --------------------------------------------------------------------------------------------
# Arrangement: which layer plays what, bar by bar
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    plan: MusicPlan
    bars: int
    beat_s: float
    intro_bars: int  # pad (and drone) alone
    full_from: int  # drums join here
    breakdown: frozenset[int]  # bars without drums and bass, for contour

    @property
    def bar_s(self) -> float:
        return 4 * self.beat_s

    def chord(self, bar: int) -> tuple[int, tuple[int, ...]]:
        chords = self.plan.chords
        offset, quality = chords[(bar // self.plan.bars_per_chord) % len(chords)]
        root = self.plan.root_midi + offset
        return root, tuple(root + i for i in _QUALITIES[quality])


def _grid(plan: MusicPlan, duration_s: float, rng: np.random.Generator) -> _Grid:
    beat_s = 60.0 / plan.tempo_bpm
    bars = math.ceil(duration_s / (4 * beat_s)) + 1
    intro = 2 if bars >= 8 else 0
    full_from = 4 if bars >= 8 else 0
    breakdown: set[int] = set()
    if bars >= 24:
        start = int(rng.choice([10, 12]))  # the seed decides where each 16-bar phrase rests
        for phrase in range(full_from, bars, 16):
            breakdown |= {phrase + start, phrase + start + 1}
    return _Grid(plan, bars, beat_s, intro, full_from, frozenset(breakdown))


def _layer_pad(g: _Grid, synth: _Synth, buf: np.ndarray, scratch: np.ndarray) -> None:
    mood = g.plan.mood
    table = {"epic": _BRIGHT, "mysterious": _HOLLOW}.get(mood, _WARM)
    attack = {"calm": 2.0, "sad": 1.5, "mysterious": 2.5, "epic": 0.4}.get(mood, 0.15)
    low = 50 if mood == "mysterious" else 55
    span = g.plan.bars_per_chord
    for bar in range(0, g.bars, span):
        _, notes = g.chord(bar)
        voiced = tuple(sorted(_in_octave(m, low) for m in notes))
        seconds = min(span, g.bars - bar) * g.bar_s
        release = min(1.5, seconds * 0.5)  # overlaps the next chord: a soft crossfade
        _place(buf, bar * g.bar_s, synth.pad(voiced, seconds, attack, release, table))


def _layer_drone(g: _Grid, synth: _Synth, buf: np.ndarray, scratch: np.ndarray) -> None:
    root = _in_octave(g.plan.root_midi, 33)
    n = buf.shape[1]
    delay = int(0.012 * SAMPLE_RATE)  # right channel a few ms late: a wider image
    chunk = 1 << 20  # in slices: whole-length temporaries would be several 100 MB
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        t = np.arange(start, start + count, dtype=np.float32) / SAMPLE_RATE
        swell = 0.75 + 0.25 * np.sin(2 * np.pi * t / (g.bar_s * 2) - np.pi / 2)  # breathing
        swell *= np.minimum(t / 3.0, 1.0)
        tone = _osc(_WARM, _freq(root), count, start=start)
        tone += 0.5 * _osc(_HOLLOW, _freq(root + 7), count, start=start)
        tone *= swell
        buf[0, start:start + count] = tone
        buf[1, start + delay:start + count + delay] = tone[: n - start - delay]


def _layer_bass(g: _Grid, synth: _Synth, buf: np.ndarray, scratch: np.ndarray) -> None:
    mood = g.plan.mood
    # (beat offsets within the bar, decay, +semitones pattern) per mood
    hits, decay, steps = {
        "calm": ((0.0,), 2.5, (0,)),
        "sad": ((0.0, 2.0), 1.6, (0, 0)),
        "epic": (tuple(i * 0.5 for i in range(8)), 0.25, (0, 0, 0, 0, 0, 0, 12, 0)),
        "happy": ((0.0, 1.0, 1.5, 2.0, 3.0), 0.3, (0, 7, 12, 0, 7)),
        "mysterious": ((0.0,), 3.0, (0,)),
    }.get(mood, ((0.0, 1.0, 2.0, 3.0), 0.45, (0, 0, 7, 0)))
    for bar in range(g.intro_bars, g.bars):
        if bar in g.breakdown:
            continue
        root, _ = g.chord(bar)
        base = _in_octave(root, 36)
        for beat, step in zip(hits, steps, strict=True):
            note = synth.pluck(base + step, decay, _WARM, "bass")
            _place(buf, (bar * 4 + beat) * g.beat_s, note, 0.0, 0.9)


def _layer_arpeggio(
    g: _Grid, synth: _Synth, buf: np.ndarray, scratch: np.ndarray, kind: Instrument
) -> None:
    rng = synth.rng
    mood = g.plan.mood
    subdivision = {"epic": 4, "happy": 2, "neutral": 2, "calm": 2, "sad": 1}.get(mood, 2)
    skip = {"calm": 0.35, "mysterious": 0.6, "sad": 0.1}.get(mood, 0.05)
    low = 48 if mood == "mysterious" else 60
    pattern = rng.choice(["up", "down", "updown", "broken"])  # the seed's melodic shape
    decay = {"bell": 1.2, "piano": 1.4}.get(kind, 0.18 if subdivision == 4 else 0.3)
    for bar in range(g.intro_bars, g.bars):
        _, notes = g.chord(bar)
        tones = sorted({_in_octave(m, low) for m in notes})
        tones += [m + 12 for m in tones]  # two octaves to climb
        if pattern == "down":
            tones = tones[::-1]
        elif pattern == "updown":
            tones = tones + tones[-2:0:-1]
        elif pattern == "broken":
            tones = tones[::2] + tones[1::2]
        for step in range(4 * subdivision):
            if rng.random() < skip:
                continue
            if mood == "mysterious":  # wandering, not cycling
                midi = tones[int(rng.integers(0, len(tones)))]
            else:
                midi = tones[(bar * 4 * subdivision + step) % len(tones)]
            if kind == "bell":
                note = synth.bell(midi + 12, decay)
            else:
                note = synth.pluck(midi, decay, _BRIGHT if kind == "pluck" else _WARM, kind)
            accent = 1.0 if step % subdivision == 0 else 0.75
            velocity = accent * float(rng.uniform(0.8, 1.0))
            pan = 0.35 if step % 2 else -0.35
            _place(buf, (bar * 4 + step / subdivision) * g.beat_s, note, pan, velocity)
    _echo(buf, scratch, g.beat_s * 0.75, 0.35)


def _drum_pattern(mood: Mood) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """Beats (0-based, within a 4/4 bar) of kick, backbeat and hats for a mood."""
    eighths = tuple(i * 0.5 for i in range(8))
    if mood == "epic":
        return (0.0, 1.5, 2.0), (1.0, 3.0), (0.5, 1.5, 2.5, 3.5)
    if mood == "happy":
        return (0.0, 2.0, 2.5), (1.0, 3.0), eighths
    return (0.0, 2.0), (), eighths  # neutral: soft kick and shaker only


def _layer_drums(g: _Grid, synth: _Synth, buf: np.ndarray, scratch: np.ndarray) -> None:
    rng = synth.rng
    mood = g.plan.mood
    kick = synth.kick()
    backbeat = (synth.noise_hit("snare", 0.12, tone_hz=185.0) if mood == "epic"
                else synth.noise_hit("clap", 0.08, highpass=2))
    tick = (synth.noise_hit("shaker", 0.05, highpass=2) if mood == "neutral"
            else synth.noise_hit("hat", 0.03, highpass=3))
    kicks, backbeats, hats = _drum_pattern(mood)
    kick_gain = 0.6 if mood == "neutral" else 1.0
    for bar in range(g.full_from, g.bars):
        if bar in g.breakdown:
            continue
        t0 = bar * g.bar_s
        fill = (bar + 1) % 8 == 0  # last bar of each 8-bar phrase
        for beat in kicks:
            _place(buf, t0 + beat * g.beat_s, kick, 0.0, kick_gain)
        for beat in backbeats:
            if not (fill and beat == 3.0):
                _place(buf, t0 + beat * g.beat_s, backbeat, 0.1, 0.7)
        for beat in hats:
            if not (fill and beat >= 3.0):
                _place(buf, t0 + beat * g.beat_s, tick, 0.3, float(rng.uniform(0.25, 0.4)))
        if fill:  # a short roll into the next phrase: toms for epic, backbeat otherwise
            for k in range(4):
                hit = synth.tom(140.0 - k * 20) if mood == "epic" else backbeat
                pan = 0.5 - k * 0.33 if mood == "epic" else 0.0
                _place(buf, t0 + (3.0 + k * 0.25) * g.beat_s, hit, pan, 0.5 + k * 0.12)
    _echo(buf, scratch, g.beat_s / 4, 0.18, taps=2)  # a hint of room


def _layer_heartbeat(g: _Grid, synth: _Synth, buf: np.ndarray, scratch: np.ndarray) -> None:
    beat = synth.kick(low=38.0, depth=50.0, decay_s=0.18)
    for bar in range(g.full_from, g.bars):
        if bar in g.breakdown:
            continue
        for offset, gain in ((0.0, 1.0), (0.4, 0.6)):  # lub-dub
            _place(buf, (bar * 4 + offset) * g.beat_s, beat, 0.0, gain)


# Relative level of each layer in the mix, in dB (every layer is first normalised).
_GAINS_DB: dict[Instrument, float] = {
    "pad": -2.0, "drone": -5.0, "bass": -3.0, "bell": -7.0, "pluck": -6.0, "piano": -4.0,
    "drums": -3.0, "heartbeat": -4.0,
}


def _to_segment(layer: np.ndarray, frames: int, peak: float) -> AudioSegment:
    """Planar float (2, n) -> 16-bit stereo AudioSegment of `frames` frames at `peak` level.

    Scales the buffer in place (it is reused for the next layer)."""
    view = layer[:, :frames]
    top = float(np.abs(view).max())
    if top > 0:
        view *= peak * 32767 / top  # below full scale by construction: no clipping needed
    np.rint(view, out=view)
    pcm = np.empty((frames, 2), dtype="<i2")  # interleaved L R L R, as WAV stores it
    pcm[:, 0] = view[0]
    pcm[:, 1] = view[1]
    return AudioSegment(data=pcm.tobytes(), sample_width=2, frame_rate=SAMPLE_RATE, channels=2)


DEFAULT_LOUDNESS_DBFS = -20.0
PEAK_CEILING_DBFS = -1.0


def render_music(
    prompt: str, duration_s: float, seed: int, loudness_dbfs: float = DEFAULT_LOUDNESS_DBFS
) -> tuple[AudioSegment, MusicPlan]:
    """The mixed track and the plan it followed; deterministic for its arguments.

    The mix is levelled to an RMS of `loudness_dbfs` (peaks never above -1 dBFS), so a calm
    pad and an epic drum track arrive equally loud and the renderer can set one bed level."""
    if not duration_s > 0:
        raise ValueError(f"duration_s must be positive, got {duration_s}")
    plan = plan_music(prompt)
    rng = np.random.default_rng(_digest("music", prompt, round(duration_s, 3), seed))
    grid = _grid(plan, duration_s, rng)
    synth = _Synth(rng)
    frames = int(round(duration_s * SAMPLE_RATE))
    n = frames + int(2 * SAMPLE_RATE)  # room for tails that start near the end
    # Two planar buffers reused by every layer: fresh 100 MB arrays per layer cost more in
    # page faults than the synthesis itself.
    buf = np.zeros((2, n), dtype=np.float32)
    scratch = np.empty_like(buf)
    peak = 10 ** (-15 / 20)  # every layer at -15 dBFS peak: up to 5 can sum without clipping
    mix: AudioSegment | None = None
    for instrument in plan.instruments:
        buf.fill(0.0)
        if instrument == "pad":
            _layer_pad(grid, synth, buf, scratch)
        elif instrument == "drone":
            _layer_drone(grid, synth, buf, scratch)
        elif instrument == "bass":
            _layer_bass(grid, synth, buf, scratch)
        elif instrument == "drums":
            _layer_drums(grid, synth, buf, scratch)
        elif instrument == "heartbeat":
            _layer_heartbeat(grid, synth, buf, scratch)
        else:
            _layer_arpeggio(grid, synth, buf, scratch, instrument)
        segment = _to_segment(buf, frames, peak).apply_gain(_GAINS_DB[instrument])
        mix = segment if mix is None else mix.overlay(segment)
    assert mix is not None
    del buf, scratch
    total_ms = frames * 1000 / SAMPLE_RATE
    if mix.rms > 0:
        gain = min(loudness_dbfs - mix.dBFS, PEAK_CEILING_DBFS - mix.max_dBFS)
        mix = mix.apply_gain(gain)
    mix = mix.fade_in(int(min(1500, total_ms / 4))).fade_out(int(min(3000, total_ms / 3)))
    return mix, plan


def write_wav_atomic(segment: AudioSegment, out_path: Path) -> None:
    """Temp file beside out_path, then rename: readers never see a half-written WAV."""
    with atomic_file(out_path) as handle:
        segment.export(handle, format="wav")  # plain WAV: written by pydub, no ffmpeg


class ProceduralMusic(MusicGenerator):
    """An offline backing track whose tempo, key and instruments follow the prompt's mood.

    Same (prompt, duration, seed) -> same bytes. See `plan_music` for what a prompt selects.
    The track is levelled to `loudness_dbfs` RMS: a bed for narration, not a master.
    """

    loudness_dbfs: float = DEFAULT_LOUDNESS_DBFS

    def compose(
        self, prompt: str, *, duration_s: float, seed: int, out_path: Path
    ) -> ProducerCall:
        segment, _ = render_music(prompt, duration_s, seed, self.loudness_dbfs)
        write_wav_atomic(segment, out_path)
        return ProducerCall(provider="procedural-music", model="procedural-music-1", seed=seed)
