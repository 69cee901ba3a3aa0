"""Background music: real numpy synthesis mixed with pydub, read back with the `wave` module."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np
import pytest

from resources.producers.music.procedural import ProceduralMusic, detect_mood, plan_music

CALM = "Calm, peaceful ambient music for a nature documentary"
EPIC = "Epic, dramatic and intense score for a battle"


def compose(tmp_path: Path, prompt: str = CALM, duration_s: float = 12.0, seed: int = 7,
            name: str = "music.wav") -> Path:
    out = tmp_path / name
    call = ProceduralMusic().compose(prompt, duration_s=duration_s, seed=seed, out_path=out)
    assert (call.provider, call.model, call.seed) == (
        "procedural-music", "procedural-music-1", seed
    )
    return out


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    """(samples as float (n, channels) in -1..1, sample rate, sample width in bytes)."""
    with wave.open(str(path), "rb") as wav:
        frames = wav.readframes(wav.getnframes())
        channels, rate, width = wav.getnchannels(), wav.getframerate(), wav.getsampwidth()
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.float64)
    return samples / 32768.0, rate, width


def features(samples: np.ndarray) -> tuple[float, float]:
    """Spectral centroid (Hz) and mean frame-to-frame loudness change (relative).

    Percussive, bright music has a high centroid and a jumpy 10 ms loudness envelope; soft
    pads and bells have neither. Skips the intro (drums join after four bars) and the fade."""
    mono = samples.mean(axis=1)[8 * 44_100 : -3 * 44_100]
    spectrum = np.abs(np.fft.rfft(mono))
    freqs = np.fft.rfftfreq(len(mono), 1 / 44_100)
    centroid = float((freqs * spectrum).sum() / spectrum.sum())
    frame = 441
    count = len(mono) // frame
    rms = np.sqrt((mono[: count * frame].reshape(count, frame) ** 2).mean(axis=1))
    flux = float(np.abs(np.diff(rms)).mean() / rms.mean())
    return centroid, flux


@pytest.mark.parametrize("duration_s", [0.5, 10.0, 12.345, 60.0])
def test_exact_duration_stereo_44k_16bit(tmp_path, duration_s):
    out = compose(tmp_path / "new" / "folder", duration_s=duration_s)  # folders are created
    samples, rate, width = read_wav(out)
    assert (rate, width, samples.shape[1]) == (44_100, 2, 2)
    assert abs(len(samples) / rate - duration_s) <= 0.010
    assert [p.name for p in out.parent.iterdir()] == [out.name], "temp file left behind"


def rms_dbfs(samples: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt((samples**2).mean())))


@pytest.mark.parametrize("prompt", [CALM, EPIC, "happy upbeat", "sad", "mysterious", "bees"])
def test_every_mood_is_levelled_audible_and_unclipped(tmp_path, prompt):
    samples, rate, _ = read_wav(compose(tmp_path, prompt=prompt, duration_s=30))
    body = samples[5 * rate : 26 * rate]  # between the fades
    assert -22.0 < rms_dbfs(body) < -18.0, f"{prompt!r}: {rms_dbfs(body):.1f} dBFS"
    assert 0.1 < np.abs(samples).max() <= 10 ** (-1 / 20) + 1e-4
    # Real stereo: the channels are not identical copies.
    assert np.abs(samples[:, 0] - samples[:, 1]).mean() > 1e-3
    # Fades: starts and ends quiet.
    assert np.abs(samples[:100]).max() < 0.05 and np.abs(samples[-100:]).max() < 0.05


def test_loudness_is_configurable(tmp_path):
    default, rate, _ = read_wav(compose(tmp_path, duration_s=20, name="a.wav"))
    out = tmp_path / "quiet.wav"
    ProceduralMusic(loudness_dbfs=-30).compose(CALM, duration_s=20, seed=7, out_path=out)
    quiet, _, _ = read_wav(out)
    difference = rms_dbfs(default[5 * rate :]) - rms_dbfs(quiet[5 * rate :])
    assert 9.0 < difference < 11.0


def test_calm_and_epic_plans_differ():
    calm, epic = plan_music(CALM), plan_music(EPIC)
    assert (calm.mood, epic.mood) == ("calm", "epic")
    assert calm.tempo_bpm < 90 < 110 < epic.tempo_bpm
    assert (calm.mode, epic.mode) == ("major", "minor")
    assert "drums" in epic.instruments and "drums" not in calm.instruments
    assert calm.key.endswith("major") and epic.key.endswith("minor")


def test_calm_and_epic_sound_different(tmp_path):
    calm, _, _ = read_wav(compose(tmp_path, prompt=CALM, duration_s=30, name="calm.wav"))
    epic, _, _ = read_wav(compose(tmp_path, prompt=EPIC, duration_s=30, name="epic.wav"))
    calm_centroid, calm_flux = features(calm)
    epic_centroid, epic_flux = features(epic)
    print(f"\ncentroid calm {calm_centroid:.0f} Hz, epic {epic_centroid:.0f} Hz; "
          f"loudness flux calm {calm_flux:.3f}, epic {epic_flux:.3f}")
    assert epic_centroid > 1.8 * calm_centroid  # brighter: saw strings, hats, snare
    assert epic_flux > 1.3 * calm_flux  # busier: drums and 16th-note arpeggios


# The prompts that get each (mood, mode).
MOOD_PROMPTS = {
    ("calm", "major"): ["calm ambient peaceful", "soothing, relaxing meditation"],
    ("epic", "minor"): ["epic dramatic intense", "heroic adventure"],
    ("happy", "major"): ["happy upbeat playful", "A fun, cheerful tune for kids"],
    ("sad", "minor"): ["sad melancholic", "nostalgic and bittersweet"],
    ("mysterious", "minor"): ["mysterious dark", "eerie suspense"],
    ("neutral", "major"): ["", "fundamental physics lecture"],  # "fun" only as a whole word
}


@pytest.mark.parametrize(
    ("prompt", "mood", "mode"),
    [(prompt, mood, mode) for (mood, mode), prompts in MOOD_PROMPTS.items() for prompt in prompts],
)
def test_mood_words(prompt, mood, mode):
    plan = plan_music(prompt)
    assert (plan.mood, plan.mode) == (mood, mode)
    assert detect_mood(prompt) == mood


def test_tempo_follows_mood_and_modifiers():
    tempos = {p: plan_music(p).tempo_bpm for p in ("calm", "sad", "happy", "epic")}
    assert tempos["sad"] < tempos["happy"] < tempos["epic"]
    assert tempos["calm"] < tempos["happy"]
    assert plan_music("slow happy").tempo_bpm < plan_music("happy").tempo_bpm
    assert plan_music("fast calm").tempo_bpm > plan_music("calm").tempo_bpm
    assert plan_music("dramatic 140 bpm trailer").tempo_bpm == 140.0
    assert plan_music("calm 20 bpm").tempo_bpm == 50.0  # clamped to a playable range


def test_mixed_prompt_goes_to_the_stronger_mood():
    assert detect_mood("dark, eerie and mysterious, with an epic ending") == "mysterious"
    assert detect_mood("epic and dark") == "epic"  # a tie: the first mentioned wins


def test_same_inputs_give_identical_bytes(tmp_path):
    first = compose(tmp_path, prompt=EPIC, name="a.wav").read_bytes()
    second = compose(tmp_path, prompt=EPIC, name="b.wav").read_bytes()
    assert first == second


def test_seed_and_prompt_change_the_music(tmp_path):
    base = compose(tmp_path, name="base.wav").read_bytes()
    assert compose(tmp_path, seed=8, name="seed.wav").read_bytes() != base
    assert compose(tmp_path, prompt="Calm music for the sea", name="p.wav").read_bytes() != base


def test_rejects_non_positive_duration(tmp_path):
    with pytest.raises(ValueError, match="duration_s"):
        compose(tmp_path, duration_s=0)


def test_five_minutes_render_fast(tmp_path):
    timings = {}
    for prompt in (CALM, EPIC):
        start, cpu = time.perf_counter(), time.process_time()
        out = compose(tmp_path, prompt=prompt, duration_s=300, name="long.wav")
        timings[prompt] = (time.perf_counter() - start, time.process_time() - cpu)
        samples, rate, _ = read_wav(out)
        assert abs(len(samples) / rate - 300) <= 0.010
    print("\n300 s of music, seconds (wall, cpu): "
          + "; ".join(f"{p[:12]!r} {w:.2f}, {c:.2f}" for p, (w, c) in timings.items()))
    # CPU time, not wall time: the machine may be busy with other work.
    assert max(cpu for _, cpu in timings.values()) < 10.0
