"""OpenAI Images: artwork from the Images API, the on-screen text drawn over it afterwards."""

from __future__ import annotations

import base64
import io

from PIL import Image

from resources.domain.models import ImageStyle, ProducerCall
from resources.producers.images.generators import ImageGenerator, ImageProviderError, cover
from resources.producers.openai_http import OpenAIConnection

_STYLE_HINTS: dict[ImageStyle, str] = {
    ImageStyle.documentary: "documentary photograph, natural light, realistic detail",
    ImageStyle.watercolor: "soft watercolor painting on textured paper, gentle washes",
    ImageStyle.comic: "comic book panel, bold ink outlines, halftone shading, vivid flat colours",
    ImageStyle.cinematic: "cinematic film still, dramatic lighting, shallow depth of field",
    ImageStyle.minimal: "minimal flat illustration, simple geometric shapes, lots of space",
    ImageStyle.retro: "retro 1980s synthwave poster, sunset gradient, neon grid",
}


def closest_api_size(width: int, height: int) -> str:
    """The generation size with the nearest aspect ratio among those gpt-image-1 supports."""
    ratio = width / height
    if ratio < 0.85:
        return "1024x1536"
    if ratio > 1.18:
        return "1536x1024"
    return "1024x1024"


class OpenAIImages(OpenAIConnection, ImageGenerator):
    """OpenAI Images API (gpt-image-1 by default). Pass api_key as dg.EnvVar("OPENAI_API_KEY").

    The image model is asked for artwork without lettering; the on-screen text is drawn on top
    with DejaVu afterwards, so captions are always spelled right and legible.
    """

    model: str = "gpt-image-1"
    quality: str = "medium"
    price_per_image_usd: float = 0.063  # gpt-image-1, medium quality, 1024x1536
    timeout_s: float = 180.0

    def picture(
        self, prompt: str, style: ImageStyle, width: int, height: int, seed: int, *,
        room_for_text: bool,
    ) -> tuple[Image.Image, ProducerCall]:
        full_prompt = (
            f"{prompt.strip()}\n\nStyle: {style.value} — {_STYLE_HINTS[style]}. "
            "No text, letters, captions or watermarks in the image."
        )
        kwargs: dict[str, object] = {
            "model": self.model, "prompt": full_prompt, "size": closest_api_size(width, height),
            "n": 1,
        }
        if self.model.startswith("dall-e"):
            kwargs["response_format"] = "b64_json"  # gpt-image-* always answer in base64
            kwargs["quality"] = "hd" if self.quality in ("high", "hd") else "standard"
        else:
            kwargs["quality"] = self.quality
        with self._provider_errors(ImageProviderError, f"OpenAI images ({self.model})"):
            response = self._client().images.generate(**kwargs)  # type: ignore[arg-type]
        data = response.data or []
        if not data or not data[0].b64_json:
            raise ImageProviderError(f"OpenAI images ({self.model}) returned no image data")
        try:
            raw = Image.open(io.BytesIO(base64.b64decode(data[0].b64_json)))
            raw.load()
        except Exception as exc:
            raise ImageProviderError(
                f"OpenAI images ({self.model}) returned an unreadable image: {exc}"
            ) from exc
        call = ProducerCall(
            provider="openai", model=self.model, seed=None,  # the Images API takes no seed
            estimated_cost_usd=self.price_per_image_usd,
        )
        return cover(raw, width, height), call
