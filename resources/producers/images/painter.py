"""The offline painter: styled artwork from the shot's prompt, with Pillow and numpy.

The prompt picks a hue and a motif (mountains, waves, skyline, cosmos, forest or abstract
shapes); the seed places the shapes; each of the six styles paints them its own way. No network,
deterministic: the same (prompt, style, size, seed) gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from resources.domain.models import ImageStyle, ProducerCall
from resources.producers.images.generators import ImageGenerator, check_size
from resources.producers.images.palette import (
    RGB,
    Palette,
    hsv,
    lowercase_words,
    mix,
    prompt_palette,
    stable_hash,
)
from resources.producers.images.typography import dejavu

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
# Composition: the prompt picks a motif; the seed places the shapes
# --------------------------------------------------------------------------------------------


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


def pick_motif(prompt: str) -> Motif:
    """The scene the artwork sketches: named by the prompt's words, else picked by its hash."""
    for token in lowercase_words(prompt):
        for motif, stems in _MOTIF_WORDS.items():
            if any(token.startswith(stem) for stem in stems):
                return motif
    return _MOTIFS[stable_hash("motif", prompt) % len(_MOTIFS)]


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
# Raster effects
# --------------------------------------------------------------------------------------------


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


def _lit_scene(
    w: int, h: int, pal: Palette, shapes: list[_Shape], fill: Callable[[_Shape], RGB], *,
    horizon: float, reach: float, light: RGB, strength: float = 1.0,
) -> tuple[Image.Image, tuple[float, float, float]]:
    """The photographic looks' base: the sky fading into the nearest layer's colour below
    `horizon`, lit by a glow `reach` focal radii wide (light x strength), the shapes filled flat,
    softened by a lens blur (which also anti-aliases their edges). Returns the focal point too."""
    img = _gradient(w, h, [(0.0, pal.sky[0]), (horizon, pal.sky[1]), (1.0, pal.layers[3])])
    cx, cy, r = _focal_center(shapes, w, h)
    glow = _soft_glow(w, h, cx, cy, r * reach)[..., None]
    arr = np.asarray(img, dtype=np.float32) + glow * np.array(light, dtype=np.float32) * strength
    img = _to_image(arr)
    draw = ImageDraw.Draw(img)
    for shape in shapes:
        _draw_shape(draw, shape, h, fill(shape))
    return img.filter(ImageFilter.BoxBlur(1)), (cx, cy, r)


# --------------------------------------------------------------------------------------------
# The six looks
# --------------------------------------------------------------------------------------------


def _paint_documentary(
    w: int, h: int, pal: Palette, shapes: list[_Shape], rng: np.random.Generator
) -> Image.Image:
    # Natural light: soft sky, atmospheric perspective (far layers fade into the haze), grain.
    def fill(shape: _Shape) -> RGB:
        if shape.focal:
            return mix(pal.accent, pal.sky[1], 0.2)
        layer = pal.layers[min(shape.depth + 1, 3)]
        return mix(layer, pal.sky[1], 0.35 / (shape.depth + 1))

    img, _ = _lit_scene(w, h, pal, shapes, fill, horizon=0.6, reach=3, light=(60, 60, 60))
    arr = _vignette(np.asarray(img, dtype=np.float32), 0.35)
    return _to_image(_grain(arr, 5.0, rng))


def _paint_watercolor(
    w: int, h: int, pal: Palette, shapes: list[_Shape], rng: np.random.Generator
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
    w: int, h: int, pal: Palette, shapes: list[_Shape], rng: np.random.Generator
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
        draw.polygon(ray, fill=mix(pal.sky[0], (255, 255, 255), 0.35))
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
    w: int, h: int, pal: Palette, shapes: list[_Shape], rng: np.random.Generator
) -> Image.Image:
    def fill(shape: _Shape) -> RGB:
        if shape.focal:
            return mix(pal.accent, (255, 255, 255), 0.5)
        return pal.layers[min(shape.depth + 1, 3)]  # silhouettes against the light

    # Backlight and haze in the accent colour.
    img, (cx, cy, r) = _lit_scene(
        w, h, pal, shapes, fill, horizon=0.65, reach=4, light=pal.accent, strength=0.55
    )
    arr = np.asarray(img, dtype=np.float32)
    arr += _soft_glow(w, h, cx, cy, r * 1.6)[..., None] * 70  # bloom over the silhouettes
    arr = _grain(_vignette(arr, 0.75), 6.0, rng)
    bar = _letterbox(w, h)
    arr[:bar] = 0
    arr[h - bar:] = 0
    return _to_image(arr)


def _paint_minimal(
    w: int, h: int, pal: Palette, shapes: list[_Shape], rng: np.random.Generator
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
    w: int, h: int, pal: Palette, shapes: list[_Shape], rng: np.random.Generator
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
    neon = hsv(0.86, 0.7, 1.0)
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
# The painting, its label, and the offline artist
# --------------------------------------------------------------------------------------------


def _draw_label(image: Image.Image, words: list[str], style: ImageStyle, pal: Palette) -> None:
    """The prompt's key words, small and quiet, near the top: a caption-free hint of the shot."""
    if not words:
        return
    w, h = image.size
    label = "  ·  ".join(word.upper() for word in words)
    size = max(round(min(w, h) * 0.03), 10)
    font = dejavu(size, bold=False)
    while font.getlength(label) > w * 0.8 and size > 10:
        size -= 2
        font = dejavu(size, bold=False)
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


def _artwork(
    prompt: str, style: ImageStyle, width: int, height: int, seed: int
) -> tuple[Image.Image, Palette]:
    """The painting, and its palette. The palette and motif follow the prompt alone, so every
    shot of one prompt looks like one film; the seed (with everything else) moves the shapes."""
    palette = prompt_palette(style, prompt)
    rng = np.random.default_rng(stable_hash("layout", prompt, style.value, width, height, seed))
    shapes = _motif_shapes(pick_motif(prompt), width, height, rng)
    return _PAINTERS[style](width, height, palette, shapes, rng), palette


def paint(prompt: str, style: ImageStyle, width: int, height: int, seed: int) -> Image.Image:
    """The artwork without on-screen text; deterministic for its arguments."""
    style = ImageStyle(style)
    check_size(width, height)
    image, palette = _artwork(prompt, style, width, height, seed)
    _draw_label(image, prompt_keywords(prompt), style, palette)
    return image


class OfflineArtist(ImageGenerator):
    """Styled procedural artwork from the prompt, with the on-screen text drawn legibly.

    Needs no network or GPU; the same (prompt, style, size, seed) gives the same bytes.
    """

    def picture(
        self, prompt: str, style: ImageStyle, width: int, height: int, seed: int, *,
        room_for_text: bool,
    ) -> tuple[Image.Image, ProducerCall]:
        image = paint(prompt, style, width, height, seed)
        return image, ProducerCall(provider="offline-artist", model="offline-artist-1", seed=seed)


def paint_background(
    prompt: str, style: ImageStyle, width: int, height: int, seed: int, *, night: bool,
    dusk: bool,
) -> Image.Image:
    """The painter's artwork for the prompt, without any label, lit for night or dusk."""
    image, _ = _artwork(prompt, ImageStyle(style), width, height, seed)
    if not (night or dusk):
        return image
    arr = np.asarray(image, dtype=np.float32)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    if night:  # a dark blue sky with stars
        arr = arr * 0.3 + np.array([8, 14, 40], np.float32) * (1.0 - 0.5 * t)
        star_rng = np.random.default_rng(stable_hash("stars", prompt, width, height))
        count = int(width * height / 9000)
        xs = star_rng.integers(0, width, count)
        ys = star_rng.integers(0, int(height * 0.6), count)
        glow = star_rng.uniform(140, 255, count)
        for x, y, g in zip(xs, ys, glow, strict=True):
            arr[y : y + 3, x : x + 3] = np.maximum(arr[y : y + 3, x : x + 3], g)
    else:  # warm low light
        arr = arr * 0.6 + np.array([250, 120, 50], np.float32) * (0.45 - 0.25 * t)
    return _to_image(arr)
