"""Background music."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg

from resources.models import ProducerCall


class MusicGenerator(dg.ConfigurableResource, ABC):
    """Writes a 44.1 kHz stereo WAV of duration_s seconds whose mood follows the prompt."""

    max_concurrency: int = 2

    @abstractmethod
    def compose(
        self, prompt: str, *, duration_s: float, seed: int, out_path: Path
    ) -> ProducerCall: ...
