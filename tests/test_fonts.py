"""Caption font fallback: CJK text is drawn with Noto Sans CJK, not as tofu boxes, and text no
bundled font can draw is refused with the characters named."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydantic import ValidationError

from resources.domain.models import MovieRequest
from resources.media.fonts import cjk_font_path, font_for, undrawable
from resources.runtime.settings import font_path


def _glyph(char: str, font_file) -> np.ndarray:
    image = Image.new("L", (80, 80))
    ImageDraw.Draw(image).text((8, 8), char, fill=255, font=ImageFont.truetype(str(font_file), 56))
    return np.asarray(image)


def test_cjk_falls_back_to_a_font_that_draws_it():
    assert font_for("How volcanoes erupt: Ωмега") == font_path()
    chosen = font_for("火山が噴火する")
    assert chosen == cjk_font_path()
    # Two different characters give two different pictures: real glyphs, not one tofu box.
    assert not np.array_equal(_glyph("火", chosen), _glyph("山", chosen))
    assert _glyph("火", chosen).any()
    # The check can fail: the first font alone draws both as the same box.
    assert np.array_equal(_glyph("火", font_path()), _glyph("山", font_path()))


def test_korean_and_chinese_are_covered_too():
    assert undrawable("화산 火山喷发 Вулкан") == []


def test_undrawable_text_is_refused_naming_the_characters():
    with pytest.raises(ValidationError) as error:
        MovieRequest.model_validate(
            {"prompt": "hieroglyph \U00013000 here"}, context={"check_glyphs": True}
        )
    assert "U+13000" in str(error.value) and "prompt" in str(error.value)
    # Without the check (loading saved inputs) the same text loads.
    assert MovieRequest(prompt="hieroglyph \U00013000 here").prompt
