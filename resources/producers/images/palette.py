"""The prompt's colours: a hue picked from its words, and each style's palette around that hue.

Everything is keyed by a stable hash of the prompt, so every shot of one prompt looks like one
film, whichever producer draws it: the painter's artwork and the on-screen text share a palette.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
from dataclasses import dataclass

from resources.domain.models import ImageStyle

RGB = tuple[int, int, int]


def stable_hash(*parts: object) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process, so never use it here)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


# Word stems that suggest a colour family (hue in 0..1) and a scene motif.
_HUE_WORDS: tuple[tuple[float, tuple[str, ...]], ...] = (
    (0.58, ("ocean", "sea", "water", "river", "lake", "rain", "ice", "sky", "blue", "whale",
            "winter", "snow", "arctic", "glacier", "океан", "море", "θάλασσ", "ωκεαν")),
    (0.33, ("forest", "tree", "jungle", "plant", "leaf", "leaves", "grass", "green", "garden",
            "nature", "spring", "лес", "δάσ")),
    (0.05, ("fire", "sun", "desert", "sunset", "volcano", "autumn", "lava", "red", "orange",
            "mars", "heat", "огонь", "φωτι")),
    (0.74, ("space", "night", "galax", "star", "cosmos", "universe", "purple", "dream", "moon",
            "космос", "звезд", "διάστημα", "αστέρ")),
    (0.11, ("gold", "ancient", "egypt", "pyramid", "history", "sand", "honey", "empire", "roman",
            "greek", "castle", "медь", "ιστορ")),
)


def lowercase_words(prompt: str) -> list[str]:
    return [t.lower() for t in re.findall(r"[^\W\d_]+", prompt)]


def _pick_hue(prompt: str) -> float:
    key = stable_hash("hue", prompt)
    jitter = ((key % 1000) / 1000 - 0.5) * 0.06
    for token in lowercase_words(prompt):
        for hue, stems in _HUE_WORDS:
            if any(token.startswith(stem) for stem in stems):
                return hue + jitter
    return (key % 10_000) / 10_000


@dataclass(frozen=True)
class Palette:
    sky: tuple[RGB, RGB]  # background gradient, top to bottom
    layers: tuple[RGB, RGB, RGB, RGB]  # shape fills, far to near
    accent: RGB  # the focal sun/moon/planet
    ink: RGB  # outlines and text stroke
    text: RGB  # on-screen text fill
    paper: RGB  # the lightest colour (watercolor paper, minimal ground)


def _palette(style: ImageStyle, hue: float, key: int) -> Palette:
    """Each style maps the prompt's hue to its own saturation/brightness scheme."""
    scheme = (0.08, 0.5, 0.33)[key % 3]  # analogous, complementary or triadic second colour
    h2 = hue + scheme
    if style is ImageStyle.documentary:
        near = hue + (0.06, -0.06, 0.12)[key % 3]  # natural scenes stay near one hue family
        return Palette(
            sky=(hsv(hue, 0.35, 0.62), hsv(hue + 0.05, 0.18, 0.93)),
            layers=(hsv(hue, 0.22, 0.7), hsv(hue + 0.03, 0.32, 0.52),
                    hsv(near, 0.38, 0.36), hsv(near, 0.45, 0.2)),
            accent=hsv(0.1, 0.25, 1.0), ink=(15, 15, 18), text=(255, 255, 255),
            paper=(240, 238, 232),
        )
    if style is ImageStyle.watercolor:
        return Palette(
            sky=(hsv(hue, 0.3, 0.95), hsv(hue + 0.1, 0.15, 0.98)),
            layers=(hsv(hue, 0.35, 0.95), hsv(hue + 0.06, 0.45, 0.9),
                    hsv(h2, 0.5, 0.85), hsv(h2 + 0.05, 0.55, 0.75)),
            accent=hsv(hue + 0.5, 0.55, 0.98), ink=hsv(hue, 0.7, 0.22),
            text=hsv(hue, 0.75, 0.2), paper=(247, 241, 228),
        )
    if style is ImageStyle.comic:
        return Palette(
            sky=(hsv(hue, 0.85, 1.0), hsv(hue + 0.08, 0.6, 1.0)),
            layers=(hsv(hue + 0.33, 0.7, 1.0), hsv(hue + 0.5, 0.85, 0.95),
                    hsv(hue + 0.66, 0.85, 0.9), hsv(h2, 0.9, 0.75)),
            accent=(255, 222, 40), ink=(0, 0, 0), text=(10, 10, 10), paper=(255, 250, 205),
        )
    if style is ImageStyle.cinematic:
        return Palette(
            sky=(hsv(hue, 0.7, 0.1), hsv(hue + 0.5, 0.65, 0.55)),
            layers=(hsv(hue, 0.5, 0.3), hsv(hue, 0.55, 0.18),
                    hsv(hue, 0.6, 0.1), hsv(hue, 0.6, 0.04)),
            accent=hsv(hue + 0.5, 0.45, 1.0), ink=(0, 0, 0), text=(250, 246, 238),
            paper=(250, 246, 238),
        )
    if style is ImageStyle.minimal:
        return Palette(
            sky=(hsv(hue, 0.07, 0.97), hsv(hue, 0.07, 0.97)),
            layers=(hsv(hue, 0.25, 0.9), hsv(h2, 0.45, 0.8),
                    hsv(hue, 0.55, 0.55), hsv(h2, 0.6, 0.35)),
            accent=hsv(hue + 0.5, 0.7, 0.95), ink=hsv(hue, 0.07, 0.97),
            text=hsv(hue, 0.6, 0.16), paper=hsv(hue, 0.07, 0.97),
        )
    # retro: the synthwave sunset is the style's identity; the prompt only nudges its hue
    shift = ((key >> 8) % 100 / 100 - 0.5) * 0.08
    return Palette(
        sky=(hsv(0.74 + shift, 0.85, 0.22), hsv(0.93 + shift, 0.75, 0.95)),
        layers=(hsv(0.8 + shift, 0.6, 0.35), hsv(0.78 + shift, 0.7, 0.25),
                hsv(0.76 + shift, 0.8, 0.15), hsv(0.75 + shift, 0.85, 0.1)),
        accent=hsv(0.12 + shift, 0.8, 1.0), ink=hsv(0.76 + shift, 0.9, 0.18),
        text=hsv(0.14, 0.75, 1.0), paper=hsv(0.9 + shift, 0.8, 1.0),
    )


def prompt_palette(style: ImageStyle, prompt: str) -> Palette:
    return _palette(style, _pick_hue(prompt), stable_hash("palette", prompt, style.value))
