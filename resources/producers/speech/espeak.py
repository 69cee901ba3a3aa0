"""ctypes binding to the libespeak-ng shipped in the `espeakng-loader` wheel.

espeak-ng keeps its state (voice, parameters, synth callback) in process globals and is not
thread safe, so every call here runs under one module-level lock, and the library is initialised
once per process and data path. Only the small part of speak_lib.h that synthesis needs is bound.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # synth callback runs inside espeak_Synth; no audio device
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() on failure
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_EE_OK = 0

RATE_MIN_WPM = 80
RATE_MAX_WPM = 450  # espeak's documented maximum without the optional sonic speed-up


class _Event(ctypes.Structure):
    """espeak_EVENT."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters of the input text
        ("length", ctypes.c_int),  # word length in characters
        ("audio_position", ctypes.c_int),  # ms from the start of this synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union {int number; const char* name; char string[8]}
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class WordEvent:
    """One espeakEVENT_WORD: where the word is in the text (0-based chars) and when it starts."""

    char_index: int
    length: int
    start_s: float


@dataclass(frozen=True)
class RawSpeech:
    samples: np.ndarray  # int16, mono
    sample_rate: int
    words: list[WordEvent]
    version: str


@dataclass
class _Engine:
    lib: ctypes.CDLL
    pid: int
    data_path: str
    sample_rate: int
    version: str
    callback: object  # the ctypes callback must stay referenced while the library may call it


_lock = threading.Lock()
_engine: _Engine | None = None
# Filled by the synth callback during one espeak_Synth call (always under _lock).
_chunks: list[np.ndarray] = []
_events: list[WordEvent] = []


def _reset_after_fork() -> None:
    # A child forked while another thread held the lock would otherwise deadlock on it.
    global _lock, _engine
    _lock = threading.Lock()
    _engine = None


os.register_at_fork(after_in_child=_reset_after_fork)


def default_data_path() -> str:
    import espeakng_loader

    return str(espeakng_loader.get_data_path())


@cache
def _load_library() -> ctypes.CDLL:
    import espeakng_loader

    lib = ctypes.CDLL(str(espeakng_loader.get_library_path()))
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,  # text
        ctypes.c_size_t,  # size in bytes, including the terminator
        ctypes.c_uint,  # position
        ctypes.c_int,  # position type
        ctypes.c_uint,  # end position
        ctypes.c_uint,  # flags
        ctypes.POINTER(ctypes.c_uint),  # unique identifier (out)
        ctypes.c_void_p,  # user data
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Terminate.argtypes = []
    lib.espeak_Terminate.restype = ctypes.c_int
    return lib


def _on_synth(wav: Any, numsamples: int, events: Any) -> int:
    # wav: short*, events: espeak_EVENT* terminated by espeakEVENT_LIST_TERMINATED.
    if numsamples > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        event = events[i]
        if event.type == _EVENT_WORD:
            _events.append(
                WordEvent(event.text_position - 1, event.length, event.audio_position / 1000.0)
            )
        i += 1
    return 0  # 0 = keep synthesising


def _ensure_engine(data_path: str) -> _Engine:
    """Initialise espeak once per process and data path. Caller holds _lock."""
    global _engine
    pid = os.getpid()
    if _engine is not None and _engine.pid == pid and _engine.data_path == data_path:
        return _engine
    lib = _load_library()
    if _engine is not None and _engine.pid == pid:
        lib.espeak_Terminate()  # switching data paths within this process
    _engine = None
    sample_rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
    )
    if sample_rate <= 0:
        raise RuntimeError(f"espeak-ng failed to initialise with data path {data_path}")
    callback = _SynthCallback(_on_synth)
    lib.espeak_SetSynthCallback(callback)
    version = (lib.espeak_Info(None) or b"unknown").decode()
    _engine = _Engine(lib, pid, data_path, sample_rate, version, callback)
    return _engine


@cache
def voice_variants(data_path: str) -> tuple[str, ...]:
    """Names of the voice variants (`+f3`, `+m2`, ...) in this espeak data folder."""
    folder = Path(data_path) / "voices" / "!v"
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file() and " " not in p.name))


def synthesize(
    text: str, *, voice_name: str, rate_wpm: int, pitch: int, pitch_range: int, data_path: str
) -> RawSpeech:
    """Speak `text` with espeak voice `voice_name` (e.g. "en-us+f3"); returns samples and
    the start time of every word espeak reports."""
    with _lock:
        engine = _ensure_engine(data_path)
        lib = engine.lib
        if lib.espeak_SetVoiceByName(voice_name.encode()) != _EE_OK:
            raise ValueError(f"espeak-ng has no voice named {voice_name!r}")
        # Parameters are process globals: set every one on every call.
        for parameter, value in (
            (_PARAM_RATE, rate_wpm),
            (_PARAM_PITCH, pitch),
            (_PARAM_RANGE, pitch_range),
        ):
            if lib.espeak_SetParameter(parameter, value, 0) != _EE_OK:
                raise RuntimeError(f"espeak-ng rejected parameter {parameter}={value}")
        _chunks.clear()
        _events.clear()
        data = text.encode("utf-8") + b"\0"
        try:
            status = lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if status != _EE_OK:
                raise RuntimeError(f"espeak-ng synthesis failed with status {status}")
            samples = np.concatenate(_chunks) if _chunks else np.zeros(0, dtype=np.int16)
            words = list(_events)
        finally:
            _chunks.clear()
            _events.clear()
        return RawSpeech(samples.astype(np.int16), engine.sample_rate, words, engine.version)
