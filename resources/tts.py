"""Text to speech: narration audio plus word timings for captions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg

from resources.models import Emotion, Language, ProducerCall, SpeechTimings


class TextToSpeech(dg.ConfigurableResource, ABC):
    """Writes a mono WAV of `text` to out_path and returns its word timings.

    The clip must not be longer than max_duration_s: implementations speed speech up to fit.
    """

    max_concurrency: int = 4

    @abstractmethod
    def synthesize(
        self,
        text: str,
        *,
        voice: str,
        language: Language,
        emotion: Emotion,
        max_duration_s: float,
        out_path: Path,
    ) -> tuple[SpeechTimings, ProducerCall]: ...
