"""Still images for shots."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg

from resources.models import ImageStyle, ProducerCall


class ImageGenerator(dg.ConfigurableResource, ABC):
    """Writes a PNG of exactly width x height to out_path."""

    max_concurrency: int = 4

    @abstractmethod
    def generate(
        self,
        prompt: str,
        *,
        on_screen_text: str,
        style: ImageStyle,
        width: int,
        height: int,
        seed: int,
        out_path: Path,
    ) -> ProducerCall: ...
