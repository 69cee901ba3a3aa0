"""Fonts that draw captions and on-screen text, with fallback: DejaVu Sans (Latin, Greek,
Cyrillic, from matplotlib's wheel) first, then Noto Sans CJK (Chinese, Japanese, Korean, from the
noto-cjk-sans-jp-bold wheel). A text is drawn with the first font that has every one of its
characters; a character no bundled font has is refused up front rather than shown as tofu.
"""

from __future__ import annotations

import functools
from pathlib import Path

from resources.runtime.settings import font_path


def cjk_font_path() -> Path:
    from noto_cjk_sans_jp_bold import FONT_PATH

    return Path(str(FONT_PATH))


def fallback_chain(bold: bool = True) -> list[Path]:
    return [font_path(bold=bold), cjk_font_path()]


@functools.lru_cache(maxsize=8)
def _coverage(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


def _drawn(text: str) -> set[int]:
    return {ord(c) for c in text if not c.isspace() and c.isprintable()}


def font_for(text: str, bold: bool = True) -> Path:
    """The first font of the chain that draws every character of `text`."""
    needed = _drawn(text)
    chain = fallback_chain(bold)
    for path in chain:
        if needed <= _coverage(path):
            return path
    return chain[0]


def undrawable(text: str) -> list[str]:
    """Characters of `text` that no bundled font can draw, each once, in order of appearance."""
    chain = fallback_chain()
    missing: list[str] = []
    for char in dict.fromkeys(text):
        if _drawn(char) and not any(ord(char) in _coverage(path) for path in chain):
            missing.append(char)
    return missing
