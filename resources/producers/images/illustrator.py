"""The offline illustrator: pictures of the prompt's things over the painter's backgrounds.

The pictures are the OpenMoji set bundled in resources/data (CC BY-SA 4.0, credited in the
call's metadata), found by name, alias or a broader term from the lexicon (icons.py).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from resources.domain.models import ImageStyle, ProducerCall
from resources.producers.images.generators import ImageGenerator, check_size
from resources.producers.images.painter import paint_background
from resources.producers.images.palette import stable_hash


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
    rng = np.random.default_rng(stable_hash("scene", prompt, style.value, width, height, seed))
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

    def picture(
        self, prompt: str, style: ImageStyle, width: int, height: int, seed: int, *,
        room_for_text: bool,
    ) -> tuple[Image.Image, ProducerCall]:
        check_size(width, height)
        image, details = illustrate(
            prompt, style, width, height, seed, room_for_text=room_for_text
        )
        return image, ProducerCall(
            provider="offline-illustrator", model="openmoji-17-illustrator-1", seed=seed,
            details=details,
        )
