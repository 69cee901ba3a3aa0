"""The movie's soundtrack: narration clips at their offsets over music ducked under speech,
measured (ebur128) and brought to the loudness target (gain + limiter) into AAC.

Kept apart from the picture so an edit to a picture reuses the mixed soundtrack."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resources.media.ffmpeg import (
    AtomicOutput,
    EncoderSettings,
    file_url,
    run_graph,
    thread_args,
)

# Loudness passes of the final mix, and how close to the target they stop.
GAIN_PASSES = 4
GAIN_TOLERANCE_LU = 0.3
# Part of a soundtrack's content key: change it when the mix itself changes.
MIX_METHOD = "compressed-voice-gain-to-target-v2"
# Narration is compressed before mixing, as voice-over usually is: espeak's peaks sit far above
# its loudness, and without this the true-peak limiter takes 1-2 LU back off any gain.
VOICE_COMPRESSOR = "acompressor=threshold=0.1:ratio=4:attack=5:release=100"


class MixSettings(EncoderSettings):
    audio_bitrate: str
    audio_sample_rate: int
    loudness_lufs: float
    true_peak_db: float
    loudness_range_lu: float
    music_level_db: float
    duck_threshold: float
    duck_ratio: float
    duck_attack_ms: float
    duck_release_ms: float
    duck_lookahead_ms: float


def parse_ebur128_summary(stderr: str, instance: str | None = None) -> dict | None:
    """The ebur128 filter's closing summary as loudnorm's measured_* values (strings, as
    loudnorm's own JSON has them); None without a finite integrated loudness (e.g. silence).
    The true peak (input_tp) is only there when the filter ran with peak=true.
    `instance` picks the summary of a named filter (`ebur128@voice` in the graph)."""
    if instance is not None:
        found = re.search(rf"\[{re.escape(instance)} @ [^\]]*\] Summary:", stderr)
        if not found:
            return None
        stderr = stderr[found.start() :]
        following = re.search(r"\n\[[^\]]+ @ 0x", stderr[1:])
        if following:
            stderr = stderr[: following.start() + 1]
    summary = stderr[stderr.rfind("Summary:") :] if "Summary:" in stderr else ""
    patterns = {
        "input_i": r"I:\s*(-?[\d.]+|-?inf)\s*LUFS",
        "input_thresh": r"Integrated loudness:.*?Threshold:\s*(-?[\d.]+|-?inf)\s*LUFS",
        "input_lra": r"LRA:\s*(-?[\d.]+|-?inf)\s*LU\b",
        "input_tp": r"Peak:\s*(-?[\d.]+|-?inf)\s*dBFS",
    }
    values = {}
    for key, pattern in patterns.items():
        match = re.search(pattern, summary, re.S)
        if match and math.isfinite(float(match.group(1))):
            values[key] = match.group(1)
    if "input_i" not in values:
        return None
    values["target_offset"] = "0"
    return values


@dataclass(frozen=True)
class Soundtrack:
    """A movie's soundtrack, `total` s long: the narration clips at their offsets (s) over the
    music, if any, mixed with the renderer's settings."""

    cfg: MixSettings
    narration: Sequence[tuple[Path, float]]
    music: Path | None
    total: float

    def write(self, out_path: Path) -> None:
        """The movie's audio alone (AAC in MP4): narration at its offsets over ducked music,
        loudness-normalised. Kept apart from the picture so a visual edit reuses it."""
        total = self.total
        with AtomicOutput(out_path) as out:
            levels = self._measure_sources()
            gain_db = self._gain_to_target(levels)
            audio_inputs, audio_graph = self._audio_graph(levels)
            graph = (
                audio_graph
                + ";\n"
                + f"[mix]{self._normalize(gain_db)},"
                + (
                    f"aresample={self.cfg.audio_sample_rate},"
                    f"aformat=sample_fmts=fltp:channel_layouts=stereo,"
                    f"apad=whole_dur={total:.6f},atrim=end={total:.6f}[aout]"
                )
            )
            output = ["-map", "[aout]", "-c:a", "aac", "-b:a", self.cfg.audio_bitrate]
            output += ["-ar", str(self.cfg.audio_sample_rate), "-ac", "2", *thread_args(self.cfg)]
            output += ["-t", f"{total:.6f}", "-f", "mp4", file_url(out.tmp)]
            run_graph(
                audio_inputs,
                graph,
                output,
                what=f"mix_soundtrack {out_path}",
                timeout_s=self.cfg.timeout_s,
            )

    def _sources(self) -> tuple[list[str], list[str], bool, bool]:
        """Inputs and graph parts producing [voice] (narration clips at their offsets, or
        silence) and, with music, [music] (looped and trimmed to `total`); plus whether each
        source exists."""
        total, music = self.total, self.music
        rate = self.cfg.audio_sample_rate
        fmt = f"aresample={rate},aformat=sample_fmts=fltp:channel_layouts=stereo"
        inputs: list[str] = []
        parts: list[str] = []
        index = 0
        voice_labels = []
        for k, (clip, offset) in enumerate(self.narration):
            if offset >= total:
                continue
            inputs += ["-i", file_url(Path(clip))]
            delay_ms = max(0, round(offset * 1000))
            parts.append(f"[{index}:a]{fmt},adelay=delays={delay_ms}:all=1[n{k}]")
            voice_labels.append(f"[n{k}]")
            index += 1
        if voice_labels:
            parts.append(
                "".join(voice_labels)
                + f"amix=inputs={len(voice_labels)}:normalize=0:duration=longest,"
                + f"{VOICE_COMPRESSOR},apad=whole_dur={total:.6f},atrim=end={total:.6f}[voice]"
            )
        else:
            parts.append(f"anullsrc=r={rate}:cl=stereo,atrim=end={total:.6f}[voice]")
        if music is not None:
            inputs += ["-stream_loop", "-1", "-i", file_url(Path(music))]
            parts.append(f"[{index}:a]{fmt},atrim=end={total:.6f},asetpts=N/SR/TB[music]")
        return inputs, parts, bool(voice_labels), music is not None

    def _audio_graph(self, levels: dict[str, float]) -> tuple[list[str], str]:
        """Inputs and graph producing [mix]: narration (brought to the loudness target) at its
        offsets over music set `music_level_db` below it and ducked while it speaks."""
        inputs, parts, _, has_music = self._sources()
        total = self.total
        voice_gain = levels.get("voice_gain_db", 0.0)
        if not has_music:
            parts.append(f"[voice]volume={voice_gain:.2f}dB[mix]")
            return inputs, ";\n".join(parts)
        # Look-ahead ducking: the music and the voice that is heard are delayed against the
        # voice that keys the compressor, so the music is already down when a sentence starts.
        ahead = max(0.0, self.cfg.duck_lookahead_ms) / 1000
        parts.append(
            f"[voice]volume={voice_gain:.2f}dB,asplit=2[voice_mix][voice_key];"
            f"[voice_key]apad=whole_dur={total + ahead:.6f}[voice_sc];"
            f"[voice_mix]adelay=delays={ahead * 1000:.0f}:all=1[voice_late]"
        )
        parts.append(
            f"[music]volume={levels.get('music_gain_db', 0.0):.2f}dB,"
            f"adelay=delays={ahead * 1000:.0f}:all=1[music_level]"
        )
        parts.append(
            f"[music_level][voice_sc]sidechaincompress=threshold={self.cfg.duck_threshold}"
            f":ratio={self.cfg.duck_ratio}:attack={self.cfg.duck_attack_ms}"
            f":release={self.cfg.duck_release_ms}:detection=rms:link=maximum[ducked]"
        )
        parts.append(
            "[voice_late][ducked]amix=inputs=2:normalize=0:duration=first,"
            f"atrim=start={ahead:.6f},asetpts=PTS-STARTPTS[mix]"
        )
        return inputs, ";\n".join(parts)

    def _measure_sources(self) -> dict[str, float]:
        """Pass 1: loudness of the narration track and of the music track (ebur128, one run);
        returns the gains that put the narration at the target and the music
        `music_level_db` below the narration, whatever levels the producers delivered."""
        inputs, parts, has_voice, has_music = self._sources()
        outputs: list[str] = []
        if has_voice:
            parts.append("[voice]ebur128@voice=framelog=quiet[voice_measured]")
            outputs += ["-map", "[voice_measured]", "-f", "null", "-"]
        else:
            parts.append("[voice]anullsink")
        if has_music:
            parts.append("[music]ebur128@music=framelog=quiet[music_measured]")
            outputs += ["-map", "[music_measured]", "-f", "null", "-"]
        if not outputs:
            return {}
        err = self._measure(inputs, ";\n".join(parts), outputs, what="sources")
        voice = parse_ebur128_summary(err, instance="ebur128@voice") if has_voice else None
        music_level = parse_ebur128_summary(err, instance="ebur128@music") if has_music else None
        levels: dict[str, float] = {}
        voice_i = float(voice["input_i"]) if voice else None
        if voice_i is not None and voice_i > -70:
            levels["voice_gain_db"] = self.cfg.loudness_lufs - voice_i
        if music_level and float(music_level["input_i"]) > -70:
            reference = self.cfg.loudness_lufs if "voice_gain_db" in levels else None
            if reference is not None:
                levels["music_gain_db"] = (
                    reference + self.cfg.music_level_db - float(music_level["input_i"])
                )
            else:  # no narration: the music is the programme
                levels["music_gain_db"] = self.cfg.loudness_lufs - float(music_level["input_i"])
        return levels

    def _gain_to_target(self, levels: dict[str, float]) -> float | None:
        """The gain that, followed by the true-peak limiter, puts the mix on the loudness target;
        None for a mix with nothing to measure (silence).

        Each pass measures the mix after that gain and the limiter and corrects the gain by the
        miss, since a louder mix loses more of its peaks to the limiter. With the narration
        compressed (see _sources) the second pass lands within GAIN_TOLERANCE_LU; the quality
        check allows 1 LU."""
        gain = 0.0
        for _ in range(GAIN_PASSES):
            measured = self._measure_mix(levels, gain)
            try:
                measured_i = float((measured or {})["input_i"])
            except (KeyError, TypeError, ValueError):
                return None
            if not math.isfinite(measured_i) or measured_i < -70:
                return None
            miss = self.cfg.loudness_lufs - measured_i
            if abs(miss) <= GAIN_TOLERANCE_LU:
                break
            gain += miss
        return gain

    def _measure_mix(self, levels: dict[str, float], gain_db: float) -> dict | None:
        """The mix after `gain_db` and the limiter, measured with ebur128 (integrated loudness,
        its gate threshold, loudness range, true peak) in loudnorm's key names; None if there is
        nothing to measure. ebur128 runs at the mix's own rate, about 5x cheaper than loudnorm's
        analysis pass, which upsamples to 192 kHz."""
        inputs, graph = self._audio_graph(levels)
        if not inputs:  # pure silence
            return None
        graph += f";\n[mix]{self._normalize(gain_db)},ebur128=peak=true:framelog=quiet[aout]"
        err = self._measure(inputs, graph, ["-map", "[aout]", "-f", "null", "-"], what="mix")
        return parse_ebur128_summary(err)

    def _measure(self, inputs: list[str], graph: str, outputs: list[str], *, what: str) -> str:
        """Run a graph whose ebur128 filters measure into null outputs; their summaries are in
        the stderr returned (info level)."""
        return run_graph(
            inputs,
            graph,
            outputs,
            loglevel="info",
            options=["-nostats"],
            what=f"loudness measurement ({what})",
            timeout_s=self.cfg.timeout_s,
        )

    def _normalize(self, gain_db: float | None) -> str:
        """The filter that brings the mix to the loudness target: the measured gain followed by
        a peak limiter at the true-peak ceiling. loudnorm's own linear mode is not used: it
        silently falls back to dynamic mode whenever the mix's loudness range or peaks exceed its
        targets (ducked music under speech often does), and dynamic mode lands 2-4 LU short on a
        one-minute movie. An unmeasurable mix (silence) gets single-pass loudnorm."""
        cfg = self.cfg
        if gain_db is None:
            return (
                f"loudnorm=I={cfg.loudness_lufs}:TP={cfg.true_peak_db}:LRA={cfg.loudness_range_lu}"
            )
        return f"volume={gain_db:.3f}dB,{self._limiter()}"

    def _limiter(self) -> str:
        ceiling = 10 ** (self.cfg.true_peak_db / 20)
        # level=0: alimiter's default auto-level would lift the whole mix to the ceiling.
        return f"alimiter=limit={ceiling:.6f}:attack=5:release=50:level=0"
