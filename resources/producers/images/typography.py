"""On-screen text: large, wrapped and centred in the safe area, in the style's colours.

Drawn with DejaVu (bundled), whatever made the picture, so captions are spelled right, legible
and render Greek and Cyrillic.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from resources.domain.models import ImageStyle
from resources.producers.images.palette import RGB, Palette, prompt_palette
from resources.runtime.settings import font_path

_FONTS = threading.local()


def dejavu(size: int, bold: bool = True) -> ImageFont.FreeTypeFont:
    """The bundled DejaVu Sans at `size` pixels."""
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


def _text_look(style: ImageStyle, pal: Palette) -> _TextLook:
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
    return _draw_text_block(image, text, _text_look(style, prompt_palette(style, prompt)))


def _draw_text_block(image: Image.Image, text: str, look: _TextLook) -> Image.Image:
    w, h = image.size
    x0, y0, x1, y1 = _safe_area(w, h)
    if look.upper:
        text = _upper(text)
    # Cap the measure on wide frames: long lines are hard to read at a glance.
    box_w, box_h = min(x1 - x0, min(w, h) * 1.2), (y1 - y0) * 0.6
    size = max(round(min(w, h) * 0.095), 12)
    while True:  # shrink until the wrapped block fits: at most 4 lines and 60% of the area
        font = dejavu(size)
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
