"""The offline illustrator: pictures of the prompt's things from the bundled OpenMoji set."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from resources.domain.models import ImageStyle
from resources.producers.images import icons
from resources.producers.images import painter as images
from resources.producers.images.illustrator import OfflineIllustrator

PROMPTS = {
    "animals": "An elephant walking across the dry savanna",
    "animals 2": "A whale swimming in the deep ocean",
    "places": "The Eiffel Tower in Paris on a clear day",
    "places 2": "A lighthouse on a rocky coast",
    "natural phenomena": "A volcano erupting with lava and smoke",
    "natural phenomena 2": "Lightning striking a tree in a storm",
    "machines": "A steam locomotive pulling a train across a bridge",
    "machines 2": "A robot arm in a car factory",
    "history": "A medieval castle with a knight on a horse",
    "history 2": "A Roman soldier with a sword and shield",
}


def make(tmp_path, prompt, name="a.png", **overrides):
    args = dict(on_screen_text="", style=ImageStyle.documentary, width=360, height=640, seed=3)
    args.update(overrides)
    out = tmp_path / name
    call = OfflineIllustrator().generate(prompt, out_path=out, **args)
    return call, Image.open(out).convert("RGB")


@pytest.mark.parametrize("prompt", PROMPTS.values(), ids=PROMPTS.keys())
def test_every_picture_is_matched_by_a_word_of_the_prompt(tmp_path, prompt):
    call, image = make(tmp_path, prompt)
    assert image.size == (360, 640)
    pictures = call.details["pictures"]
    assert pictures and pictures[0]["role"] == "subject"
    for picture in pictures:
        assert picture["word"] and picture["word"] in prompt.lower(), picture
        assert not picture["matched_by"].startswith("generic")
    assert "OpenMoji" in call.details["picture_credit"]
    assert "CC BY-SA 4.0" in call.details["picture_credit"]


def test_subject_is_found_by_name():
    assert icons.choose("A volcano erupting").matches[0].icon.name == "volcano"
    assert icons.choose("Two elephants at a river").matches[0].icon.name == "elephant"


def test_broader_terms_come_from_the_lexicon():
    found = icons.find("mount etna")
    assert found is not None and found.icon.name == "volcano"
    assert found.how == "broader term: volcano"


def test_a_prompt_without_pictures_gets_a_generic():
    choice = icons.choose("Qwzx blorpt")
    assert choice.matches[0].how.startswith("generic")


def _subject_box(image):
    w, h = image.size
    return np.asarray(image.crop((w * 0.25, h * 0.35, w * 0.75, h * 0.65)), dtype=float)


def test_a_colour_word_changes_the_picture(tmp_path):
    plain_call, plain = make(tmp_path, "A volcano erupting", "plain.png")
    red_call, red = make(tmp_path, "A red volcano erupting", "red.png")
    blue_call, blue = make(tmp_path, "A blue volcano erupting", "blue.png")
    assert red_call.details["pictures"][0]["colour"] == "red"
    assert "colour" not in plain_call.details["pictures"][0]

    def redness(image):
        box = _subject_box(image)
        return float((box[..., 0] - box[..., 1:].mean(axis=-1)).clip(0).mean())

    def blueness(image):
        box = _subject_box(image)
        return float((box[..., 2] - box[..., :2].mean(axis=-1)).clip(0).mean())

    assert redness(red) > redness(plain) + 5
    assert blueness(blue) > blueness(plain) + 5


def test_night_darkens_the_scene_and_adds_the_moon(tmp_path):
    day_call, day = make(tmp_path, "A volcano erupting lava", "day.png")
    night_call, night = make(tmp_path, "A volcano erupting lava at night", "night.png")
    assert night_call.details["light"] == "night" and day_call.details["light"] == "day"
    top = (0, 0, 360, 200)
    assert np.asarray(night.crop(top)).mean() < np.asarray(day.crop(top)).mean() - 20


def test_no_debug_tags_are_drawn(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the illustrator must not draw the painter's keyword label")

    monkeypatch.setattr(images, "_draw_label", fail)
    make(tmp_path, "A volcano erupting lava")


def test_same_inputs_same_bytes_and_every_style_and_aspect(tmp_path):
    make(tmp_path, "A whale in the ocean", "a.png")
    make(tmp_path, "A whale in the ocean", "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    for style in ImageStyle:
        _, image = make(tmp_path, "A whale in the ocean", f"{style.value}.png", style=style,
                        width=320, height=180, on_screen_text="Whales")
        assert image.size == (320, 180)


def test_movie_credits_name_every_source_that_asks_for_it():
    from resources.producers.credits import credits_for
    from resources.producers.speech.text_to_speech import EspeakTTS, OfflineVoice
    from resources.producers.text.fact_writer import FactWriter

    lines = credits_for(FactWriter(), OfflineVoice(), OfflineIllustrator())
    text = "\n".join(lines)
    assert "OpenMoji" in text and "CC BY-SA 4.0" in text
    assert "WordNet" in text and "Princeton University" in text
    assert "joe" in text and "lessac" in text and "commercial" in text
    assert credits_for(EspeakTTS()) == ["Voice: espeak-ng (GPL-3.0-or-later)"]
