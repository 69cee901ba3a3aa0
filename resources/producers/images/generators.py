"""Still images for shots: the interface every image producer implements, and what they share.

The producers: `OfflineIllustrator` (illustrator.py, the offline default: pictures of the
prompt's things over a painted background), `OfflineArtist` (painter.py: styled procedural
artwork), `OpenAIImages` (openai_images.py) and `DiffusersImages` (producers/diffusers). Each
makes a picture without lettering; `ImageGenerator.generate` then draws the on-screen text
itself with DejaVu (typography.py), so it is legible and renders Greek/Cyrillic whatever the
image model would have made of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg
from PIL import Image, ImageOps

from resources.domain.errors import ProviderError
from resources.domain.models import ImageStyle, ProducerCall
from resources.producers.images.typography import draw_on_screen_text
from resources.storage.atomic import atomic_file


class ImageProviderError(ProviderError):
    """An image provider failed; the message carries the provider's own words (never the key)."""


class ImageGenerator(dg.ConfigurableResource, ABC):
    """Writes a PNG of exactly width x height to out_path."""

    max_concurrency: int = 4

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
    ) -> ProducerCall:
        """The producer's picture for the prompt with `on_screen_text` drawn over it."""
        style = ImageStyle(style)
        image, call = self.picture(
            prompt, style, width, height, seed, room_for_text=bool(on_screen_text.strip())
        )
        write_still(image, on_screen_text, style, prompt, out_path)
        return call

    @abstractmethod
    def picture(
        self, prompt: str, style: ImageStyle, width: int, height: int, seed: int, *,
        room_for_text: bool,
    ) -> tuple[Image.Image, ProducerCall]:
        """The picture of exactly width x height, without text, and the call that made it.

        room_for_text: on-screen text will be drawn over the picture, so its subject may leave
        room for it."""


def check_size(width: int, height: int) -> None:
    if width < 16 or height < 16:
        raise ValueError(f"image size must be at least 16x16, got {width}x{height}")


def write_still(
    image: Image.Image, on_screen_text: str, style: ImageStyle, prompt: str, out_path: Path
) -> None:
    """The finished still: the on-screen text drawn over the picture, saved atomically."""
    save_png_atomic(draw_on_screen_text(image, on_screen_text, style, prompt), out_path)


def save_png_atomic(image: Image.Image, out_path: Path) -> None:
    """Write to a temp file beside out_path, then rename, so readers never see half a PNG."""
    with atomic_file(out_path) as handle:
        # Level 3: within ~30% of the smallest file at half the encoding time of level 6.
        image.save(handle, format="PNG", compress_level=3)


def cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height and centre-crop: exact size, no bars, no distortion."""
    return ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
