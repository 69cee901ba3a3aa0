"""Still images for shots.

`OfflineArtist` is the offline default: it paints styled artwork from the shot's prompt with
Pillow and numpy (no network, deterministic). `OpenAIImages` calls the OpenAI Images API. Both
draw the on-screen text themselves with DejaVu, so it is legible and renders Greek/Cyrillic
whatever the image model would have made of it.
"""

from __future__ import annotations

import base64
import colorsys
import hashlib
import io
import os
import re
import tempfile
import threading
import unicodedata
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dagster as dg
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps
from pydantic import Field

from resources.domain.errors import ProviderError
from resources.domain.models import ImageStyle, ProducerCall
from resources.runtime.settings import font_path

RGB = tuple[int, int, int]


class ImageProviderError(ProviderError):
    """An image provider failed; the message carries the provider's own words (never the key)."""


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


# --------------------------------------------------------------------------------------------
# Shared helpers: hashing, colours, atomic writes, prompt key words
# --------------------------------------------------------------------------------------------


def _digest(*parts: object) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process, so never use it here)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def save_png_atomic(image: Image.Image, out_path: Path) -> None:
    """Write to a temp file beside out_path, then rename, so readers never see half a PNG."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # Level 3: within ~30% of the smallest file at half the encoding time of level 6.
            image.save(handle, format="PNG", compress_level=3)
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_STOPWORDS = frozenset(
    """
    about above after again against also among an and any are around because been before being
    below between both but by can could did does doing down during each few for from further had
    has have having here how into its itself just more most much must near next now off once only
    onto other our out over own same should show showing shows some such than that the their them
    then there these they this those through under until upon very was were what when where which
    while who whom why will with within without would your image picture photo photograph scene
    shot style view close wide frame background foreground detailed illustration render showing
    """.split()
)


def prompt_keywords(prompt: str, limit: int = 3) -> list[str]:
    """The first few distinctive words of a prompt, for the artwork's subtle label."""
    seen: list[str] = []
    for word in re.findall(r"[^\W\d_]{4,}", prompt):
        lowered = word.lower()
        if lowered in _STOPWORDS or lowered in (w.lower() for w in seen):
            continue
        seen.append(word)
        if len(seen) == limit:
            break
    return seen


# --------------------------------------------------------------------------------------------
# Composition: the prompt picks a hue and a motif; the seed places the shapes
# --------------------------------------------------------------------------------------------

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

Motif = Literal["mountains", "waves", "skyline", "cosmos", "forest", "abstract"]
_MOTIFS: tuple[Motif, ...] = ("mountains", "waves", "skyline", "cosmos", "forest", "abstract")
_MOTIF_WORDS: dict[Motif, tuple[str, ...]] = {
    "waves": ("ocean", "sea", "wave", "water", "river", "lake", "beach", "coast", "fish", "whale",
              "ship", "boat", "island", "tide", "flood", "sail", "океан", "море", "θάλασσ"),
    "mountains": ("mountain", "hill", "volcano", "valley", "alps", "peak", "climb", "landscape",
                  "rock", "glacier", "canyon", "desert", "гор", "βουν"),
    "skyline": ("city", "cities", "building", "tower", "urban", "street", "bridge", "factory",
                "industr", "machine", "computer", "robot", "tech", "engine", "house", "castle",
                "roman", "empire", "temple", "history", "road", "город", "πόλη"),
    "cosmos": ("space", "star", "planet", "galax", "moon", "orbit", "astronaut", "rocket",
               "cosmos", "universe", "solar", "atom", "night", "космос", "διάστημα"),
    "forest": ("forest", "tree", "jungle", "plant", "leaf", "leaves", "flower", "garden", "wood",
               "grass", "nature", "animal", "bird", "лес", "δάσ"),
}


def _tokens(prompt: str) -> list[str]:
    return [t.lower() for t in re.findall(r"[^\W\d_]+", prompt)]


def _pick_hue(prompt: str) -> float:
    key = _digest("hue", prompt)
    jitter = ((key % 1000) / 1000 - 0.5) * 0.06
    for token in _tokens(prompt):
        for hue, stems in _HUE_WORDS:
            if any(token.startswith(stem) for stem in stems):
                return hue + jitter
    return (key % 10_000) / 10_000


def pick_motif(prompt: str) -> Motif:
    """The scene the artwork sketches: named by the prompt's words, else picked by its hash."""
    for token in _tokens(prompt):
        for motif, stems in _MOTIF_WORDS.items():
            if any(token.startswith(stem) for stem in stems):
                return motif
    return _MOTIFS[_digest("motif", prompt) % len(_MOTIFS)]


@dataclass(frozen=True)
class _Shape:
    kind: Literal["poly", "ellipse"]
    points: tuple[tuple[float, float], ...]  # polygon vertices, or the ellipse's bounding box
    depth: int  # 0 = farthest; styles fade or darken by depth
    focal: bool = False  # the sun/moon/planet: drawn in the accent colour


def _ridge(w: int, base: float, amp: float, rng: np.random.Generator, jag: int) -> list[tuple]:
    """A mountain/hill outline: random control heights, linearly interpolated, closed below."""
    xs = np.linspace(-0.05 * w, 1.05 * w, 72)
    ctrl_x = np.linspace(-0.05 * w, 1.05 * w, jag)
    ctrl_y = base - amp * rng.random(jag)
    ys = np.interp(xs, ctrl_x, ctrl_y) + rng.normal(0, amp * 0.04, xs.size)
    return [(-10.0, 1e5), *zip(xs.tolist(), ys.tolist(), strict=True), (w + 10.0, 1e5)]


def _motif_shapes(motif: Motif, w: int, h: int, rng: np.random.Generator) -> list[_Shape]:
    shapes: list[_Shape] = []
    m = min(w, h)

    def sun(cy_frac: float, r_frac: float) -> None:
        cx = w * rng.uniform(0.25, 0.75)
        cy = h * cy_frac
        r = m * r_frac * rng.uniform(0.85, 1.15)
        shapes.append(_Shape("ellipse", ((cx - r, cy - r), (cx + r, cy + r)), 0, focal=True))

    if motif == "mountains":
        horizon = h * rng.uniform(0.52, 0.62)
        sun(horizon / h - 0.16, 0.13)
        for depth in range(3):
            base = horizon + depth * h * 0.09
            amp = h * (0.22 - depth * 0.05)
            shapes.append(_Shape("poly", tuple(_ridge(w, base, amp, rng, 7 + 2 * depth)), depth))
    elif motif == "waves":
        horizon = h * rng.uniform(0.45, 0.55)
        sun(horizon / h - 0.12, 0.12)
        for depth in range(4):
            base = horizon + depth * h * 0.1
            amp = m * (0.012 + depth * 0.012)
            wavelength = w * rng.uniform(0.25, 0.5) * (1 + depth * 0.3)
            phase = rng.uniform(0, 2 * np.pi)
            xs = np.linspace(-10, w + 10, 90)
            ys = base + amp * np.sin(2 * np.pi * xs / wavelength + phase)
            pts = [(-10.0, 1e5), *zip(xs.tolist(), ys.tolist(), strict=True), (w + 10.0, 1e5)]
            shapes.append(_Shape("poly", tuple(pts), depth))
    elif motif == "skyline":
        sun(rng.uniform(0.2, 0.32), 0.09)
        for depth in range(3):
            ground = h * (0.66 + depth * 0.06)
            x = -rng.uniform(0, w * 0.1)
            while x < w:
                bw = w * rng.uniform(0.07, 0.16)
                bh = h * rng.uniform(0.12, 0.36) * (1 - depth * 0.22)
                top = ground - bh
                pts: list[tuple[float, float]] = [(x, 1e5), (x, top)]
                if rng.random() < 0.3:  # a pitched roof or spire now and then
                    pts.append((x + bw / 2, top - bh * rng.uniform(0.1, 0.3)))
                pts += [(x + bw, top), (x + bw, 1e5)]
                shapes.append(_Shape("poly", tuple(pts), depth))
                x += bw + w * rng.uniform(0.0, 0.03)
    elif motif == "cosmos":
        for _ in range(70):  # stars
            sx, sy, r = w * rng.random(), h * rng.random() * 0.8, m * rng.uniform(0.002, 0.006)
            shapes.append(_Shape("ellipse", ((sx - r, sy - r), (sx + r, sy + r)), 0))
        sun(rng.uniform(0.25, 0.4), 0.2)
        moon_x, moon_y, r = w * rng.uniform(0.1, 0.9), h * rng.uniform(0.1, 0.5), m * 0.05
        shapes.append(_Shape("ellipse", ((moon_x - r, moon_y - r), (moon_x + r, moon_y + r)), 1))
        planet_r = w * 1.1
        top = h * rng.uniform(0.72, 0.8)
        shapes.append(
            _Shape("ellipse", ((w / 2 - planet_r, top), (w / 2 + planet_r, top + 2 * planet_r)), 2)
        )
    elif motif == "forest":
        horizon = h * rng.uniform(0.55, 0.62)
        sun(horizon / h - 0.18, 0.1)
        for depth in range(3):
            base = horizon + depth * h * 0.08
            shapes.append(_Shape("poly", tuple(_ridge(w, base, h * 0.05, rng, 5)), depth))
            for _ in range(5 + depth * 3):  # conifers standing on the hill
                tx = w * rng.random()
                th = h * rng.uniform(0.12, 0.22) * (1 + depth * 0.25)
                tw = th * rng.uniform(0.32, 0.42)
                ty = base + h * 0.02
                tree = ((tx, ty - th), (tx + tw / 2, ty), (tx - tw / 2, ty))
                shapes.append(_Shape("poly", tree, depth))
    else:  # abstract: overlapping circles, triangles and bars
        sun(rng.uniform(0.3, 0.5), 0.22)
        for depth in range(3):
            for _ in range(3):
                cx, cy = w * rng.random(), h * rng.uniform(0.15, 0.95)
                r = m * rng.uniform(0.08, 0.22)
                if rng.random() < 0.5:
                    shapes.append(_Shape("ellipse", ((cx - r, cy - r), (cx + r, cy + r)), depth))
                else:
                    angle = rng.uniform(0, 2 * np.pi)
                    tri = tuple(
                        (cx + r * np.cos(angle + k * 2.094), cy + r * np.sin(angle + k * 2.094))
                        for k in range(3)
                    )
                    shapes.append(_Shape("poly", tri, depth))
    return shapes


def _clip_points(points: tuple[tuple[float, float], ...], h: int) -> list[tuple[float, float]]:
    # The 1e5 sentinels mean "to the bottom edge"; Pillow wants sane coordinates.
    return [(x, min(y, h + 10.0)) for x, y in points]


def _draw_shape(
    draw: ImageDraw.ImageDraw, shape: _Shape, h: int, fill: object, outline: object = None,
    width: int = 0,
) -> None:
    if shape.kind == "ellipse":
        (xa, ya), (xb, yb) = shape.points
        box = (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))  # jitter may swap corners
        draw.ellipse(box, fill=fill, outline=outline, width=width)
    else:
        draw.polygon(_clip_points(shape.points, h), fill=fill, outline=outline, width=width)


# --------------------------------------------------------------------------------------------
# Palettes and raster effects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Palette:
    sky: tuple[RGB, RGB]  # background gradient, top to bottom
    layers: tuple[RGB, RGB, RGB, RGB]  # shape fills, far to near
    accent: RGB  # the focal sun/moon/planet
    ink: RGB  # outlines and text stroke
    text: RGB  # on-screen text fill
    paper: RGB  # the lightest colour (watercolor paper, minimal ground)


def _palette(style: ImageStyle, hue: float, key: int) -> _Palette:
    """Each style maps the prompt's hue to its own saturation/brightness scheme."""
    scheme = (0.08, 0.5, 0.33)[key % 3]  # analogous, complementary or triadic second colour
    h2 = hue + scheme
    if style is ImageStyle.documentary:
        near = hue + (0.06, -0.06, 0.12)[key % 3]  # natural scenes stay near one hue family
        return _Palette(
            sky=(_hsv(hue, 0.35, 0.62), _hsv(hue + 0.05, 0.18, 0.93)),
            layers=(_hsv(hue, 0.22, 0.7), _hsv(hue + 0.03, 0.32, 0.52),
                    _hsv(near, 0.38, 0.36), _hsv(near, 0.45, 0.2)),
            accent=_hsv(0.1, 0.25, 1.0), ink=(15, 15, 18), text=(255, 255, 255),
            paper=(240, 238, 232),
        )
    if style is ImageStyle.watercolor:
        return _Palette(
            sky=(_hsv(hue, 0.3, 0.95), _hsv(hue + 0.1, 0.15, 0.98)),
            layers=(_hsv(hue, 0.35, 0.95), _hsv(hue + 0.06, 0.45, 0.9),
                    _hsv(h2, 0.5, 0.85), _hsv(h2 + 0.05, 0.55, 0.75)),
            accent=_hsv(hue + 0.5, 0.55, 0.98), ink=_hsv(hue, 0.7, 0.22),
            text=_hsv(hue, 0.75, 0.2), paper=(247, 241, 228),
        )
    if style is ImageStyle.comic:
        return _Palette(
            sky=(_hsv(hue, 0.85, 1.0), _hsv(hue + 0.08, 0.6, 1.0)),
            layers=(_hsv(hue + 0.33, 0.7, 1.0), _hsv(hue + 0.5, 0.85, 0.95),
                    _hsv(hue + 0.66, 0.85, 0.9), _hsv(h2, 0.9, 0.75)),
            accent=(255, 222, 40), ink=(0, 0, 0), text=(10, 10, 10), paper=(255, 250, 205),
        )
    if style is ImageStyle.cinematic:
        return _Palette(
            sky=(_hsv(hue, 0.7, 0.1), _hsv(hue + 0.5, 0.65, 0.55)),
            layers=(_hsv(hue, 0.5, 0.3), _hsv(hue, 0.55, 0.18),
                    _hsv(hue, 0.6, 0.1), _hsv(hue, 0.6, 0.04)),
            accent=_hsv(hue + 0.5, 0.45, 1.0), ink=(0, 0, 0), text=(250, 246, 238),
            paper=(250, 246, 238),
        )
    if style is ImageStyle.minimal:
        return _Palette(
            sky=(_hsv(hue, 0.07, 0.97), _hsv(hue, 0.07, 0.97)),
            layers=(_hsv(hue, 0.25, 0.9), _hsv(h2, 0.45, 0.8),
                    _hsv(hue, 0.55, 0.55), _hsv(h2, 0.6, 0.35)),
            accent=_hsv(hue + 0.5, 0.7, 0.95), ink=_hsv(hue, 0.07, 0.97),
            text=_hsv(hue, 0.6, 0.16), paper=_hsv(hue, 0.07, 0.97),
        )
    # retro: the synthwave sunset is the style's identity; the prompt only nudges its hue
    shift = ((key >> 8) % 100 / 100 - 0.5) * 0.08
    return _Palette(
        sky=(_hsv(0.74 + shift, 0.85, 0.22), _hsv(0.93 + shift, 0.75, 0.95)),
        layers=(_hsv(0.8 + shift, 0.6, 0.35), _hsv(0.78 + shift, 0.7, 0.25),
                _hsv(0.76 + shift, 0.8, 0.15), _hsv(0.75 + shift, 0.85, 0.1)),
        accent=_hsv(0.12 + shift, 0.8, 1.0), ink=_hsv(0.76 + shift, 0.9, 0.18),
        text=_hsv(0.14, 0.75, 1.0), paper=_hsv(0.9 + shift, 0.8, 1.0),
    )


def _prompt_palette(style: ImageStyle, prompt: str) -> _Palette:
    return _palette(style, _pick_hue(prompt), _digest("palette", prompt, style.value))


def _gradient(w: int, h: int, stops: list[tuple[float, RGB]]) -> Image.Image:
    """Vertical gradient: one column computed in numpy, stretched sideways by Pillow."""
    pos = np.array([p for p, _ in stops], dtype=np.float32)
    cols = np.array([c for _, c in stops], dtype=np.float32)
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)
    column = np.stack([np.interp(t, pos, cols[:, c]) for c in range(3)], axis=-1)
    strip = Image.fromarray(column.round().astype(np.uint8)[:, None, :], "RGB")
    return strip.resize((w, h), Image.Resampling.NEAREST)


def _radial(w: int, h: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """Distance from (cx, cy) in units of radius, as float32 (h, w).

    Smooth, so it is computed at quarter size and upscaled: 16x less numpy work."""
    sw, sh = max(w // 4, 2), max(h // 4, 2)
    xs = ((np.arange(sw, dtype=np.float32) + 0.5) * (w / sw) - cx) / radius
    ys = ((np.arange(sh, dtype=np.float32) + 0.5) * (h / sh) - cy) / radius
    small = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    return np.asarray(Image.fromarray(small, "F").resize((w, h), Image.Resampling.BILINEAR))


def _vignette(arr: np.ndarray, strength: float) -> np.ndarray:
    h, w = arr.shape[:2]
    d = _radial(w, h, w / 2, h / 2, float(np.hypot(w, h) / 2))
    arr *= (1.0 - strength * d**2)[..., None]  # in place: saves a 25 MB temporary
    return arr


def _grain(
    arr: np.ndarray, amount: float, rng: np.random.Generator, scale: int = 3
) -> np.ndarray:
    """Film mottle: noise at 1/scale size, upscaled smoothly.

    Per-pixel grain made PNGs 6x larger and 3x slower to encode, and the video encoder would
    smear it away anyway; a coarser texture survives both and still breaks up flat areas."""
    h, w = arr.shape[:2]
    small = rng.standard_normal((max(h // scale, 2), max(w // scale, 2)), dtype=np.float32)
    noise_img = Image.fromarray(small * amount, "F").resize((w, h), Image.Resampling.BILINEAR)
    noise = np.asarray(noise_img)
    return arr + noise[..., None]


def _to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _soft_glow(w: int, h: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """A smooth light falloff, 1 at the centre, for suns and cinematic light."""
    d = _radial(w, h, cx, cy, radius)
    return np.exp(-(d**2)).astype(np.float32)


def _focal_center(shapes: list[_Shape], w: int, h: int) -> tuple[float, float, float]:
    for shape in shapes:
        if shape.focal:
            (x0, y0), (x1, y1) = shape.points
            return (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    return w / 2, h * 0.35, min(w, h) * 0.15


# --------------------------------------------------------------------------------------------
# The six looks
# --------------------------------------------------------------------------------------------


def _paint_documentary(
    w: int, h: int, pal: _Palette, shapes: list[_Shape], rng: np.random.Generator
) -> Image.Image:
    # Natural light: soft sky, atmospheric perspective (far layers fade into the haze), grain.
    img = _gradient(w, h, [(0.0, pal.sky[0]), (0.6, pal.sky[1]), (1.0, pal.layers[3])])
    cx, cy, r = _focal_center(shapes, w, h)
    arr = np.asarray(img, dtype=np.float32)
    arr += _soft_glow(w, h, cx, cy, r * 3)[..., None] * 60
    img = _to_image(arr)
    draw = ImageDraw.Draw(img)
    for shape in shapes:
        if shape.focal:
            _draw_shape(draw, shape, h, _mix(pal.accent, pal.sky[1], 0.2))
        else:
            layer = pal.layers[min(shape.depth + 1, 3)]
            _draw_shape(draw, shape, h, _mix(layer, pal.sky[1], 0.35 / (shape.depth + 1)))
    img = img.filter(ImageFilter.BoxBlur(1))  # lens softness; also anti-aliases edges
    arr = _vignette(np.asarray(img, dtype=np.float32), 0.35)
    return _to_image(_grain(arr, 5.0, rng))


def _paint_watercolor(
    w: int, h: int, pal: _Palette, shapes: list[_Shape], rng: np.random.Generator
) -> Image.Image:
    # Work at quarter size: washes are soft anyway, and blurs are 16x cheaper there.
    s = 4
    sw, sh = max(w // s, 8), max(h // s, 8)
    paper = np.empty((sh, sw, 3), dtype=np.float32)
    paper[:] = pal.paper
    paint = np.ones((sh, sw, 3), dtype=np.float32)  # multiplicative, like pigment on paper
    sky_top = np.array(pal.sky[0], dtype=np.float32) / 255
    fade = np.clip(1.2 - np.linspace(0, 1.4, sh, dtype=np.float32), 0, 1)[:, None, None]
    paint *= 1 - (1 - sky_top) * fade  # a graded sky wash

    def wash(mask_img: Image.Image, colour: RGB, opacity: float, blur: float) -> None:
        soft = np.asarray(mask_img.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255
        # Pigment pools at the edges of a wash: darken where the blurred mask is mid-level.
        edge = np.clip(1 - np.abs(soft - 0.5) * 2, 0, 1) * 0.35
        tex = 0.8 + 0.4 * rng.random((sh, sw), dtype=np.float32)  # uneven pigment
        strength = np.clip(soft * opacity * tex + edge * opacity, 0, 1)[..., None]
        pigment = np.array(colour, dtype=np.float32) / 255
        paint[:] *= 1 - (1 - pigment) * strength

    scale = 1 / s
    for shape in shapes:
        mask = Image.new("L", (sw, sh), 0)
        jittered = _Shape(
            shape.kind,
            tuple((x * scale + rng.normal(0, 1.2), y * scale + rng.normal(0, 1.2))
                  if y < 1e4 else (x * scale, y) for x, y in shape.points),
            shape.depth, shape.focal,
        )
        _draw_shape(ImageDraw.Draw(mask), jittered, sh, 255)
        colour = pal.accent if shape.focal else pal.layers[min(shape.depth, 3)]
        wash(mask, colour, 0.65 if shape.focal else 0.55, 2.0 + shape.depth)
    for _ in range(6):  # loose blooms of colour, the medium's signature
        mask = Image.new("L", (sw, sh), 0)
        bx, by, br = sw * rng.random(), sh * rng.random(), min(sw, sh) * rng.uniform(0.08, 0.2)
        ImageDraw.Draw(mask).ellipse((bx - br, by - br * 0.8, bx + br, by + br * 0.8), fill=255)
        wash(mask, pal.layers[int(rng.integers(0, 4))], 0.25, br * 0.5)
    small = _to_image(paper * paint)
    arr = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    # Paper tooth: coarse fibres (upscaled noise) plus fine grain.
    fibres = rng.standard_normal((sh, sw), dtype=np.float32)
    fibres_img = Image.fromarray(np.clip(fibres * 40 + 128, 0, 255).astype(np.uint8), "L")
    tooth = np.asarray(fibres_img.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
    arr *= (1 + (tooth[..., None] - 128) / 128 * 0.03)
    return _to_image(_grain(arr, 2.5, rng))


def _paint_comic(
    w: int, h: int, pal: _Palette, shapes: list[_Shape], rng: np.random.Generator
) -> Image.Image:
    m = min(w, h)
    base = np.asarray(_gradient(w, h, [(0, pal.sky[0]), (1, pal.sky[1])]), dtype=np.float32)
    # Ben-Day halftone on a 45-degree grid; dot size grows towards one corner.
    cell = max(m / 70, 6.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs + ys) * 0.7071 / cell
    v = (xs - ys) * 0.7071 / cell
    du, dv = u - np.round(u), v - np.round(v)
    radius = 0.12 + 0.3 * (xs / w * 0.5 + ys / h * 0.5)
    dots = (du * du + dv * dv) < radius * radius
    arr = np.where(dots[..., None], base * 0.72, base)
    img = _to_image(arr)
    draw = ImageDraw.Draw(img)
    # Speed-line burst from the focal point.
    cx, cy, _ = _focal_center(shapes, w, h)
    reach = float(np.hypot(w, h))
    for k in range(28):
        a0 = k * 2 * np.pi / 28 + rng.uniform(-0.03, 0.03)
        a1 = a0 + 0.05
        ray = [(cx, cy), (cx + reach * np.cos(a0), cy + reach * np.sin(a0)),
               (cx + reach * np.cos(a1), cy + reach * np.sin(a1))]
        draw.polygon(ray, fill=_mix(pal.sky[0], (255, 255, 255), 0.35))
    outline = max(round(m * 0.008), 3)
    for shape in shapes:
        fill = pal.accent if shape.focal else pal.layers[min(shape.depth, 3)]
        _draw_shape(draw, shape, h, fill, outline=pal.ink, width=outline)
    # The panel: white gutter and a heavy black frame.
    gutter, frame = round(m * 0.035), max(round(m * 0.012), 4)
    draw.rectangle((0, 0, w - 1, h - 1), outline=(255, 255, 255), width=gutter)
    draw.rectangle((gutter, gutter, w - 1 - gutter, h - 1 - gutter), outline=pal.ink, width=frame)
    return img


def _letterbox(w: int, h: int) -> int:
    return round(min(w, h) * 0.12)


def _paint_cinematic(
    w: int, h: int, pal: _Palette, shapes: list[_Shape], rng: np.random.Generator
) -> Image.Image:
    img = _gradient(w, h, [(0, pal.sky[0]), (0.65, pal.sky[1]), (1, pal.layers[3])])
    cx, cy, r = _focal_center(shapes, w, h)
    arr = np.asarray(img, dtype=np.float32)
    glow = _soft_glow(w, h, cx, cy, r * 4)[..., None]
    arr = arr + glow * np.array(pal.accent, dtype=np.float32) * 0.55  # backlight and haze
    img = _to_image(arr)
    draw = ImageDraw.Draw(img)
    for shape in shapes:
        if shape.focal:
            _draw_shape(draw, shape, h, _mix(pal.accent, (255, 255, 255), 0.5))
        else:  # silhouettes against the light, near ones darkest
            _draw_shape(draw, shape, h, pal.layers[min(shape.depth + 1, 3)])
    img = img.filter(ImageFilter.BoxBlur(1))  # soft focus; also anti-aliases edges
    arr = np.asarray(img, dtype=np.float32)
    arr += _soft_glow(w, h, cx, cy, r * 1.6)[..., None] * 70  # bloom over the silhouettes
    arr = _grain(_vignette(arr, 0.75), 6.0, rng)
    bar = _letterbox(w, h)
    arr[:bar] = 0
    arr[h - bar:] = 0
    return _to_image(arr)


def _paint_minimal(
    w: int, h: int, pal: _Palette, shapes: list[_Shape], rng: np.random.Generator
) -> Image.Image:
    # Flat ground, three or four primitives, lots of air: no textures, no outlines.
    img = Image.new("RGB", (w, h), pal.paper)
    draw = ImageDraw.Draw(img)
    m = min(w, h)
    horizon = h * rng.uniform(0.6, 0.72)
    draw.rectangle((0, horizon, w, h), fill=pal.layers[0])
    cx, cy, _ = _focal_center(shapes, w, h)
    r = m * rng.uniform(0.16, 0.24)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=pal.accent)
    # One element of the motif, simplified: the nearest shape, flat.
    near = [s for s in shapes if not s.focal and s.depth == max(x.depth for x in shapes)]
    if near:
        _draw_shape(draw, near[int(rng.integers(0, len(near)))], h, pal.layers[2])
    bx = w * rng.uniform(0.1, 0.6)
    draw.rectangle((bx, horizon - m * 0.3, bx + m * 0.06, horizon), fill=pal.layers[3])
    ly = horizon + (h - horizon) * rng.uniform(0.3, 0.6)
    draw.line((w * 0.12, ly, w * 0.88, ly), fill=pal.layers[1], width=max(round(m * 0.006), 2))
    return img


def _paint_retro(
    w: int, h: int, pal: _Palette, shapes: list[_Shape], rng: np.random.Generator
) -> Image.Image:
    m = min(w, h)
    level = rng.uniform(0.58, 0.68)
    horizon = h * level
    img = _gradient(w, h, [(0, pal.sky[0]), (level, pal.sky[1]), (level + 0.001, pal.ink),
                           (1, pal.ink)])
    draw = ImageDraw.Draw(img)
    # Striped sun: a vertical gradient disc with widening gaps towards the horizon.
    cx, r = w / 2 + w * rng.uniform(-0.15, 0.15), m * rng.uniform(0.26, 0.34)
    cy = horizon - r * 0.45
    sun = _gradient(round(2 * r), round(2 * r), [(0, pal.accent), (1, pal.paper)])
    mask = Image.new("L", sun.size, 0)
    mdraw = ImageDraw.Draw(mask)
    mdraw.ellipse((0, 0, sun.size[0] - 1, sun.size[1] - 1), fill=255)
    for k in range(7):
        y = sun.size[1] * (0.45 + k * 0.08)
        mdraw.rectangle((0, y, sun.size[0], y + sun.size[1] * 0.012 * (k + 1)), fill=0)
    img.paste(sun, (round(cx - r), round(cy - r)), mask)
    neon = _hsv(0.86, 0.7, 1.0)
    line_w = max(round(m * 0.004), 2)
    for shape in shapes:  # the motif as dark silhouettes with a neon rim
        if shape.focal or shape.depth > 1:
            continue
        _draw_shape(draw, shape, h, pal.layers[shape.depth + 2], outline=neon, width=line_w)
    # Perspective grid on the floor.
    draw.rectangle((0, horizon, w, h), fill=pal.ink)
    vx = w / 2
    for k in range(-12, 13):
        draw.line((vx + k * w * 0.02, horizon, vx + k * w * 0.35, h), fill=neon, width=line_w)
    for k in range(1, 14):
        y = horizon + (h - horizon) * (k / 13) ** 2.2
        draw.line((0, y, w, y), fill=neon, width=line_w)
    draw.line((0, horizon, w, horizon), fill=pal.paper, width=line_w * 2)
    arr = np.asarray(img, dtype=np.float32).copy()
    arr[::4] *= 0.8  # CRT scanlines
    return _to_image(arr)


_PAINTERS = {
    ImageStyle.documentary: _paint_documentary,
    ImageStyle.watercolor: _paint_watercolor,
    ImageStyle.comic: _paint_comic,
    ImageStyle.cinematic: _paint_cinematic,
    ImageStyle.minimal: _paint_minimal,
    ImageStyle.retro: _paint_retro,
}


# --------------------------------------------------------------------------------------------
# Text: the prompt's key words as a quiet label, the on-screen text large and legible
# --------------------------------------------------------------------------------------------


_FONTS = threading.local()


def _font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont:
    # Cached per thread: a FreeType face must not be used by two threads at once, and
    # several shots may be rendered concurrently in one process.
    cache: dict[tuple[int, bool], ImageFont.FreeTypeFont] = _FONTS.__dict__.setdefault("c", {})
    if (size, bold) not in cache:
        cache[(size, bold)] = ImageFont.truetype(str(font_path(bold=bold)), size)
    return cache[(size, bold)]


@dataclass(frozen=True)
class _TextLook:
    fill: RGB
    stroke: RGB
    stroke_ratio: float  # stroke width as a fraction of the font size
    shadow: RGB | None = None
    shadow_blur: float = 0.0  # 0 = a hard offset shadow (retro), else a soft drop shadow
    box: RGB | None = None  # comic caption box
    upper: bool = False


def _text_look(style: ImageStyle, pal: _Palette) -> _TextLook:
    if style is ImageStyle.comic:
        return _TextLook(pal.text, (255, 255, 255), 0.03, (0, 0, 0), 0.0, pal.paper, upper=True)
    if style is ImageStyle.retro:
        return _TextLook(pal.text, pal.ink, 0.08, pal.paper, 0.0, upper=True)
    if style is ImageStyle.watercolor:
        return _TextLook(pal.text, pal.paper, 0.07, None)
    if style is ImageStyle.minimal:
        return _TextLook(pal.text, pal.paper, 0.05, None)
    if style is ImageStyle.cinematic:
        return _TextLook(pal.text, (0, 0, 0), 0.05, (0, 0, 0), 0.35)
    return _TextLook(pal.text, pal.ink, 0.07, (0, 0, 0), 0.3)


def _wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Greedy word wrap by rendered width; over-long words are split by characters."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in paragraph.split():
            while font.getlength(word) > max_width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and font.getlength(word[:cut]) > max_width:
                    cut -= 1
                if current:
                    lines.append(current)
                    current = ""
                lines.append(word[:cut])
                word = word[cut:]
            trial = f"{current} {word}".strip()
            if font.getlength(trial) <= max_width:
                current = trial
            else:
                lines.append(current)
                current = word
        if current:
            lines.append(current)
    return [line for line in lines if line]


def _upper(text: str) -> str:
    """Capitals; Greek drops its accents in all-caps (ΚΑΛΗΜΕΡΑ, not ΚΑΛΗΜΈΡΑ)."""
    decomposed = unicodedata.normalize("NFD", text.upper())
    out: list[str] = []
    for char in decomposed:
        # U+0301 acute/tonos after a Greek capital; Cyrillic Й (breve) and others keep theirs.
        if char == "\u0301" and out and "\u0391" <= out[-1] <= "\u03a9":
            continue
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def _safe_area(w: int, h: int) -> tuple[float, float, float, float]:
    """Where on-screen text goes: clear of edges, platform UI and the letterbox bars."""
    return w * 0.08, h * 0.15, w * 0.92, h * 0.78


def draw_on_screen_text(
    image: Image.Image, text: str, style: ImageStyle, prompt: str = ""
) -> Image.Image:
    """Draw `text` large, wrapped and centred in the safe area, with an outline or shadow.

    The colours follow the style (and the prompt's palette, as the artwork does)."""
    text = text.strip()
    if not text:
        return image
    style = ImageStyle(style)
    return _draw_text_block(image, text, _text_look(style, _prompt_palette(style, prompt)))


def _draw_text_block(image: Image.Image, text: str, look: _TextLook) -> Image.Image:
    w, h = image.size
    x0, y0, x1, y1 = _safe_area(w, h)
    if look.upper:
        text = _upper(text)
    # Cap the measure on wide frames: long lines are hard to read at a glance.
    box_w, box_h = min(x1 - x0, min(w, h) * 1.2), (y1 - y0) * 0.6
    size = max(round(min(w, h) * 0.095), 12)
    while True:  # shrink until the wrapped block fits: at most 4 lines and 60% of the area
        font = _font(size)
        stroke = max(round(size * look.stroke_ratio), 1)
        pad = stroke + (round(size * 0.35) if look.box else 0)
        lines = _wrap(text, font, box_w - 2 * pad)
        ascent, descent = font.getmetrics()
        line_h = round((ascent + descent) * 1.12)
        block_h = line_h * len(lines)
        if (len(lines) <= 4 and block_h + 2 * pad <= box_h) or size <= 14:
            break
        size = max(round(size * 0.9), 14)
    widths = [font.getlength(line) for line in lines]
    cx = (x0 + x1) / 2
    top = (y0 + y1) / 2 - block_h / 2
    overlay = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    offset = max(round(size * 0.06), 2)
    if look.box is not None:
        half = max(widths) / 2 + pad
        rect = (cx - half, top - pad, cx + half, top + block_h + pad)
        shadow_rect = tuple(v + offset * 1.5 for v in rect)
        draw.rectangle(shadow_rect, fill=(*(look.shadow or (0, 0, 0)), 255))
        draw.rectangle(rect, fill=(*look.box, 255), outline=(0, 0, 0, 255),
                       width=max(round(size * 0.06), 3))
    elif look.shadow is not None:
        shadow = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        sdraw = ImageDraw.Draw(shadow)
        for i, line in enumerate(lines):
            sdraw.text((cx + offset, top + i * line_h + offset), line, font=font, anchor="ma",
                       fill=(*look.shadow, 200), stroke_width=stroke,
                       stroke_fill=(*look.shadow, 200))
        bbox = shadow.getbbox()
        if look.shadow_blur and bbox:
            # Blur only around the text: a full-frame blur costs ~10x more for the same pixels.
            radius = size * look.shadow_blur * 0.3
            grow = round(radius * 3)
            region = (max(bbox[0] - grow, 0), max(bbox[1] - grow, 0),
                      min(bbox[2] + grow, w), min(bbox[3] + grow, h))
            shadow.paste(shadow.crop(region).filter(ImageFilter.GaussianBlur(radius)), region)
        overlay = Image.alpha_composite(overlay, shadow)
        draw = ImageDraw.Draw(overlay)
    for i, line in enumerate(lines):
        draw.text((cx, top + i * line_h), line, font=font, anchor="ma", fill=(*look.fill, 255),
                  stroke_width=stroke, stroke_fill=(*look.stroke, 255))
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def _draw_label(image: Image.Image, words: list[str], style: ImageStyle, pal: _Palette) -> None:
    """The prompt's key words, small and quiet, near the top: a caption-free hint of the shot."""
    if not words:
        return
    w, h = image.size
    label = "  ·  ".join(word.upper() for word in words)
    size = max(round(min(w, h) * 0.03), 10)
    font = _font(size, bold=False)
    while font.getlength(label) > w * 0.8 and size > 10:
        size -= 2
        font = _font(size, bold=False)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    if style is ImageStyle.cinematic:
        y = _letterbox(w, h) / 2  # inside the top bar, like a title card
        draw.text((w / 2, y), label, font=font, anchor="mm", fill=(200, 200, 200, 170))
    elif style is ImageStyle.documentary:  # a chyron-style tag, top left
        x, y = w * 0.08, h * 0.06
        box = draw.textbbox((x, y), label, font=font, anchor="lm")
        pad = size * 0.5
        draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad),
                       fill=(0, 0, 0, 120))
        draw.text((x, y), label, font=font, anchor="lm", fill=(255, 255, 255, 210))
    else:
        y = h * 0.06 + (round(min(w, h) * 0.035) if style is ImageStyle.comic else 0)
        colour = pal.text if style is not ImageStyle.retro else pal.paper
        draw.text((w / 2, y), label, font=font, anchor="mm", fill=(*colour, 150))
    image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))


def paint(prompt: str, style: ImageStyle, width: int, height: int, seed: int) -> Image.Image:
    """The artwork without on-screen text; deterministic for its arguments."""
    style = ImageStyle(style)
    if width < 16 or height < 16:
        raise ValueError(f"image size must be at least 16x16, got {width}x{height}")
    # The palette and motif follow the prompt alone, so every shot of one prompt looks like
    # one film; the seed (with everything else) moves the shapes.
    palette = _prompt_palette(style, prompt)
    rng = np.random.default_rng(_digest("layout", prompt, style.value, width, height, seed))
    shapes = _motif_shapes(pick_motif(prompt), width, height, rng)
    image = _PAINTERS[style](width, height, palette, shapes, rng)
    _draw_label(image, prompt_keywords(prompt), style, palette)
    return image


class OfflineArtist(ImageGenerator):
    """Styled procedural artwork from the prompt, with the on-screen text drawn legibly.

    Needs no network or GPU; the same (prompt, style, size, seed) gives the same bytes.
    """

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
        style = ImageStyle(style)
        image = paint(prompt, style, width, height, seed)
        image = draw_on_screen_text(image, on_screen_text, style, prompt)
        save_png_atomic(image, out_path)
        return ProducerCall(provider="offline-artist", model="offline-artist-1", seed=seed)


# --------------------------------------------------------------------------------------------
# The offline illustrator: pictures of the prompt's things over the painter's backgrounds
# --------------------------------------------------------------------------------------------


def paint_background(
    prompt: str, style: ImageStyle, width: int, height: int, seed: int, *, night: bool,
    dusk: bool,
) -> Image.Image:
    """The painter's artwork for the prompt, without any label, lit for night or dusk."""
    style = ImageStyle(style)
    palette = _prompt_palette(style, prompt)
    rng = np.random.default_rng(_digest("layout", prompt, style.value, width, height, seed))
    shapes = _motif_shapes(pick_motif(prompt), width, height, rng)
    image = _PAINTERS[style](width, height, palette, shapes, rng)
    if not (night or dusk):
        return image
    arr = np.asarray(image, dtype=np.float32)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    if night:  # a dark blue sky with stars
        arr = arr * 0.3 + np.array([8, 14, 40], np.float32) * (1.0 - 0.5 * t)
        star_rng = np.random.default_rng(_digest("stars", prompt, width, height))
        count = int(width * height / 9000)
        xs = star_rng.integers(0, width, count)
        ys = star_rng.integers(0, int(height * 0.6), count)
        glow = star_rng.uniform(140, 255, count)
        for x, y, g in zip(xs, ys, glow, strict=True):
            arr[y : y + 3, x : x + 3] = np.maximum(arr[y : y + 3, x : x + 3], g)
    else:  # warm low light
        arr = arr * 0.6 + np.array([250, 120, 50], np.float32) * (0.45 - 0.25 * t)
    return _to_image(arr)


def _shadowed(picture: Image.Image, blur: float) -> Image.Image:
    """The picture over its own soft shadow, on a transparent canvas with room for the blur."""
    pad = int(blur * 3)
    canvas = Image.new("RGBA", (picture.width + 2 * pad, picture.height + 2 * pad), (0, 0, 0, 0))
    alpha = picture.getchannel("A").point(lambda a: a * 0.55)
    shadow = Image.new("RGBA", picture.size, (0, 0, 0, 255))
    shadow.putalpha(alpha)
    offset = int(blur * 0.6)
    canvas.alpha_composite(shadow, (pad + offset, pad + offset))
    canvas = canvas.filter(ImageFilter.GaussianBlur(blur))
    canvas.alpha_composite(picture, (pad, pad))
    return canvas


def illustrate(
    prompt: str, style: ImageStyle, width: int, height: int, seed: int, *, room_for_text: bool
) -> tuple[Image.Image, dict]:
    """A scene for the prompt: its subject large, up to three supporting things smaller, the
    prompt's colour words applied to the things they describe, night or dusk light, the
    painter's background behind. Returns the image and what was chosen (for metadata)."""
    from resources.producers.images import icons

    choice = icons.choose(prompt)
    image = paint_background(
        prompt, style, width, height, seed, night=choice.night, dusk=choice.dusk
    ).convert("RGBA")
    rng = np.random.default_rng(_digest("scene", prompt, style.value, width, height, seed))
    short = min(width, height)
    pictures = []
    # Where things go, as fractions of the frame: clear of the burned-in captions (lower
    # quarter) and, on a shot with a title, of the title block (the middle).
    portrait, landscape = height > width * 1.2, width > height * 1.2
    if room_for_text:
        subject_at, subject_size = (0.5, 0.21 if portrait else 0.19), 0.42 if portrait else 0.33
        slots = [(0.17, 0.62), (0.83, 0.62)] if portrait else [(0.1, 0.5), (0.9, 0.5)]
    else:
        subject_at, subject_size = (0.5, 0.45), 0.62 if portrait else 0.56
        slots = (
            [(0.22, 0.14), (0.78, 0.14), (0.5, 0.08)] if portrait
            else [(0.14, 0.45), (0.86, 0.45), (0.86, 0.15)] if landscape
            else [(0.12, 0.15), (0.88, 0.15), (0.12, 0.55)]
        )
    order = rng.permutation(len(slots))
    for index, match in enumerate(choice.matches):
        colour = choice.colours.get(match.word)
        if index == 0:
            size = int(short * subject_size)
            cx = width * (subject_at[0] + rng.uniform(-0.02, 0.02))
            cy = height * (subject_at[1] + rng.uniform(-0.015, 0.015))
        elif index - 1 < len(slots):
            size = int(short * (0.24 if portrait else 0.22))
            px, py = slots[order[index - 1]]
            cx, cy = px * width, py * height
        else:
            break
        picture = icons.render(match.icon, size, colour)
        framed = _shadowed(picture, blur=max(size / 40, 2))
        image.alpha_composite(
            framed,
            (int(cx - framed.width / 2), int(cy - framed.height / 2)),
        )
        described = match.describe()
        if colour is not None:
            described["colour"] = choice.colour_words[match.word]
        described["role"] = "subject" if index == 0 else "supporting"
        pictures.append(described)
    if choice.night:
        moon = icons.render(icons.icon_by_name("crescent moon"), int(short * 0.16))
        image.alpha_composite(moon, (int(width * 0.08), int(height * 0.06)))
    details = {
        "pictures": pictures,
        "light": "night" if choice.night else "dusk" if choice.dusk else "day",
        "picture_credit": icons.OPENMOJI_CREDIT,
    }
    return image.convert("RGB"), details


class OfflineIllustrator(ImageGenerator):
    """The offline default: a scene of the prompt's things, drawn from the OpenMoji pictures
    bundled in resources/data (CC BY-SA 4.0, credited in the metadata), found by
    name, alias or a broader term from the lexicon, over the painter's styled background.

    Which pictures were used, matched by which word of the prompt, is in the call's details.
    Needs no network or GPU; the same (prompt, style, size, seed) gives the same bytes.
    """

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
        style = ImageStyle(style)
        if width < 16 or height < 16:
            raise ValueError(f"image size must be at least 16x16, got {width}x{height}")
        image, details = illustrate(
            prompt, style, width, height, seed, room_for_text=bool(on_screen_text.strip())
        )
        image = draw_on_screen_text(image, on_screen_text, style, prompt)
        save_png_atomic(image, out_path)
        return ProducerCall(
            provider="offline-illustrator", model="openmoji-17-illustrator-1", seed=seed,
            details=details,
        )


# --------------------------------------------------------------------------------------------
# OpenAI Images
# --------------------------------------------------------------------------------------------

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


def cover(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height and centre-crop: exact size, no bars, no distortion."""
    return ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)


class OpenAIImages(ImageGenerator):
    """OpenAI Images API (gpt-image-1 by default). Pass api_key as dg.EnvVar("OPENAI_API_KEY").

    The image model is asked for artwork without lettering; the on-screen text is drawn on top
    with DejaVu afterwards, so captions are always spelled right and legible.
    """

    api_key: str = Field(repr=False, exclude=True, description='pass dg.EnvVar("OPENAI_API_KEY")')
    base_url: str | None = None
    model: str = "gpt-image-1"
    quality: str = "medium"
    price_per_image_usd: float = 0.063  # gpt-image-1, medium quality, 1024x1536
    timeout_s: float = 180.0
    max_retries: int = 2

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
        import openai

        style = ImageStyle(style)
        size = closest_api_size(width, height)
        full_prompt = (
            f"{prompt.strip()}\n\nStyle: {style.value} — {_STYLE_HINTS[style]}. "
            "No text, letters, captions or watermarks in the image."
        )
        client = openai.OpenAI(
            api_key=self.api_key, base_url=self.base_url, timeout=self.timeout_s,
            max_retries=self.max_retries,
        )
        kwargs: dict[str, object] = {"model": self.model, "prompt": full_prompt, "size": size,
                                     "n": 1}
        if self.model.startswith("dall-e"):
            kwargs["response_format"] = "b64_json"  # gpt-image-* always answer in base64
            kwargs["quality"] = "hd" if self.quality in ("high", "hd") else "standard"
        else:
            kwargs["quality"] = self.quality
        try:
            response = client.images.generate(**kwargs)  # type: ignore[arg-type]
        except openai.APIStatusError as exc:
            raise ImageProviderError(
                f"OpenAI images ({self.model}) failed with HTTP {exc.status_code}: "
                f"{self._scrub(_error_message(exc))}",
                status=exc.status_code,
            ) from None
        except openai.APIError as exc:  # connection errors, timeouts
            raise ImageProviderError(
                f"OpenAI images ({self.model}) failed: {self._scrub(str(exc))}"
            ) from None
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
        image = cover(raw, width, height)
        image = draw_on_screen_text(image, on_screen_text, style, prompt)
        save_png_atomic(image, out_path)
        return ProducerCall(
            provider="openai", model=self.model, seed=None,  # the Images API takes no seed
            estimated_cost_usd=self.price_per_image_usd,
        )

    def _scrub(self, message: str) -> str:
        # Belt and braces: never let the key travel on in an exception or a log.
        return message.replace(self.api_key, "***") if self.api_key else message


def _error_message(exc: object) -> str:
    """The provider's own message from an error body ({"error": {"message": ...}})."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(exc, "message", exc))
