"""The offline default writer: a script that says true things, with no network and no model.

Facts come from the user's documents first, then from the bundled lexicon (Princeton WordNet
3.1, resources/producers/lexicon.py) for the topic's nouns: definitions, broader terms, parts,
kinds and
named instances, and the nouns those definitions use ("lava", "magma" for volcanoes). The
script follows an outline that scales with the duration (hook, what it is, how it works,
examples, a surprise, recap); every segment's narration fits its clip at the voice's measured
pace, and no sentence is said twice. Image prompts name the concrete things of each segment
that the offline illustrator can draw. Deterministic: the same request gives the same script.

Languages other than English get the template writer (the lexicon is English).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from resources.domain.feeds import document_link
from resources.domain.models import (
    MAX_SPEECH_S,
    Fact,
    ImagePrompts,
    Language,
    Research,
    Script,
    SegmentScript,
    Source,
)
from resources.producers import lexicon
from resources.producers.images import icons
from resources.producers.speech.piper_voice import SECONDS_PER_WORD
from resources.producers.text.language_models import OfflineWriter, _sentences, _topic

# Words per segment at the voice's measured pace, with a tenth of the clip to spare.
WORD_BUDGET = int(MAX_SPEECH_S * 0.9 / SECONDS_PER_WORD)
MIN_WORDS = 9  # below this a segment feels empty: add another fact if one fits
# A voice reads every run of letters or digits as a word and many symbols aloud ("slash").
_SPOKEN = re.compile(r"[^\W_]+|[/@#&%+=<>\[\]{}|\\~^*]")


def spoken_words(text: str) -> int:
    """How many words a voice says for `text`: "https://host.invalid/a.png" is not one word."""
    return len(_SPOKEN.findall(text))

SECTIONS = ("hook", "what", "how", "examples", "surprise", "recap")
LABELS = {
    "what": "What it is",
    "how": "How it works",
    "examples": "Examples",
    "surprise": "A surprise",
    "recap": "Recap",
}
LEXICON_SOURCE = Source(title="Princeton WordNet 3.1 (bundled lexicon)", uri="https://wordnet.princeton.edu/")

_QUESTION = re.compile(r"^(how|why|what|when|where|who|which)\b", re.I)
_NOT_TOPIC = frozenset(
    """
    how why what when where who which does do did is are was were the a an of and or to in on
    for about with from tell me explain story history world life facts things way ways make
    makes made work works working
    """.split()
)
# Noun forms of topic verbs ("erupt" -> "eruption").
_NOUN_SUFFIXES = ("ion", "tion", "ation", "ment", "ing", "er", "ance", "ence", "al")


def outline(count: int) -> list[str]:
    """The section of each segment: hook, what, how, examples, surprise, recap, in that order;
    short movies drop the surprise, then the examples; long ones give the middle more time."""
    if count <= 1:
        return ["hook"]
    if count == 2:
        return ["hook", "recap"]
    middle = ["what", "how", "examples", "surprise"][: max(count - 2, 0)]
    extra = count - 2 - len(middle)
    weights = {"what": 1, "how": 1, "examples": 1, "surprise": 1}
    cycle = ["how", "examples", "what", "how", "examples", "surprise"]
    for i in range(max(extra, 0)):
        weights[cycle[i % len(cycle)]] += 1
    body = [s for s in middle for _ in range(max(weights.get(s, 1), 1))]
    return ["hook", *body, "recap"]


@dataclass(frozen=True)
class LexFact:
    text: str
    section: str  # which part of the outline it serves
    nouns: tuple[str, ...]  # the things it names (for image prompts)
    priority: int = 1  # 0 goes first in its section


def _clean(definition: str) -> str:
    text = re.sub(r"\s*\([^)]*\)", "", definition).strip().rstrip(".")
    return re.sub(r"\s+", " ", text)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _plural(noun: str) -> str:
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    return noun + "s"


_MASS_START = frozenset(
    """
    molten liquid solid water air gas rock matter material energy heat light power time money
    food art music science study land soil sand ice snow steam smoke fire
    """.split()
)


def _sentence(subject: str, definition: str) -> str | None:
    """'volcano', 'a mountain formed by volcanic material' -> 'A volcano is a mountain ...';
    WordNet leaves out articles ('five-toed pachyderm'), so one is put back."""
    text = _clean(definition)
    first = text.split(";")[0].strip()
    if not first or len(first.split()) < 2:
        return None
    words = first.split()
    if subject[:1].isupper():  # a name: "Mount Etna is a volcano ..."
        if not re.match(r"^(a|an|the|any|one)\b", first, re.I):
            first = lexicon.article(first)
        return f"{subject} is {first}."
    if re.match(r"^(a|an|the|any|one)\b", first, re.I):
        return _cap(f"{lexicon.article(subject)} is {first}.")
    head = words[: min(4, len(words))]
    plural = any(re.search(r"[^su]s$", w) and len(w) > 3 and not w.endswith("ss") for w in head[:3])
    if plural and not any(w in ("is", "of", "that", "which", "in") for w in head[:2]):
        return _cap(f"{_plural(subject)} are {first}.")  # "massive mammals having tusks"
    if words[0].lower() in _MASS_START:
        return _cap(f"{subject} is {first}.")
    return _cap(f"{lexicon.article(subject)} is {lexicon.article(first)}.")


def _name(item: lexicon.Sense) -> str:
    return item.words[0]


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in _NOT_TOPIC}


def _pick_sense(noun: str, context: set[str]) -> list[lexicon.Sense]:
    """Senses of a noun, the one that best fits the topic first: word stems shared with the
    topic (and what was said so far), then how much the lexicon says about it (instances,
    parts, kinds), then frequency."""
    found = lexicon.senses(noun)[:4]

    def score(pair: tuple[int, lexicon.Sense]) -> tuple:
        rank, item = pair
        richness = len(item.instances) + len(item.parts) + len(item.narrower) / 2
        return (-len(_stems(item.definition) & context), -min(richness, 6), rank)

    return [item for _, item in sorted(enumerate(found), key=score)]


def topic_nouns(topic: str) -> list[str]:
    """The nouns a topic is about, most important first: two-word names the lexicon knows,
    nouns, then nouns made from its verbs ("erupt" -> "eruption")."""
    tokens = [t.lower() for t in re.findall(r"[A-Za-z][A-Za-z'-]*", topic)]
    nouns: list[str] = []
    i = 0
    while i < len(tokens):
        pair = " ".join(tokens[i : i + 2])
        if i + 1 < len(tokens) and lexicon.is_noun(pair) and tokens[i] not in _NOT_TOPIC:
            nouns.append(lexicon.lemma(pair) or pair)
            i += 2
            continue
        token = tokens[i]
        i += 1
        if token in _NOT_TOPIC or len(token) < 3:
            continue
        if lexicon.is_noun(token):
            nouns.append(lexicon.lemma(token) or token)
        else:
            for suffix in _NOUN_SUFFIXES:
                guess = token + suffix
                if lexicon.is_noun(guess):
                    nouns.append(guess)
                    break
    return list(dict.fromkeys(nouns))


def lexical_facts(topic: str) -> list[LexFact]:
    """Facts about the topic's nouns from the lexicon, each tagged with its outline section."""
    nouns = topic_nouns(topic)
    context = _stems(topic)
    facts: list[LexFact] = []
    seen_senses: set[int] = set()

    def add(text: str | None, section: str, *things: str, priority: int = 1) -> None:
        if text and len(text.split()) <= WORD_BUDGET:
            facts.append(LexFact(text, section, tuple(t for t in things if t), priority))

    def add_kinds(thing: str, kinds: list, named: int) -> None:
        """Adds "Kinds of <thing> include a, b and c." naming up to `named` of two or more."""
        if len(kinds) >= 2:
            names = [_name(k) for k in kinds[:named]]
            add(f"Kinds of {thing} include {', '.join(names[:-1])} and {names[-1]}.", "examples",
                thing, *names[:2])

    related: list[str] = []
    for position, noun in enumerate(nouns[:3]):
        senses = _pick_sense(noun, context)
        if not senses:
            continue
        main = senses[0]
        seen_senses.add(main.id)
        context |= _stems(main.definition)
        proper = main.words[0][:1].isupper()
        shown = main.words[0] if proper else noun
        called = shown if proper else _cap(lexicon.article(shown))
        add(_sentence(shown, main.definition), "what" if position == 0 else "how", shown,
            priority=0)
        for synonym in main.words[1:3]:
            if synonym.lower() != shown.lower():
                add(f"{_cap(shown)} is also called {synonym}.", "surprise", shown)
        for example in main.examples:
            add(f"As the dictionary puts it: {example}.", "surprise", shown)
        for parent_id in main.broader[:1]:
            parent = lexicon.sense(parent_id)
            add(f"{called} is a kind of {_name(parent)}.", "what", shown, _name(parent))
            add(_sentence(_name(parent), parent.definition), "what", _name(parent))
        for part_id in main.parts[:4]:
            part = lexicon.sense(part_id)
            if proper:
                add(f"{shown} included the {_name(part)}.", "how", shown, _name(part))
            else:
                add(f"Every {shown} has {lexicon.article(_name(part))}.", "how", shown,
                    _name(part))
            add(_sentence(_name(part), part.definition), "how", _name(part))
        kinds = [lexicon.sense(k) for k in main.narrower[:8]]
        add_kinds(shown, kinds, named=4)
        for kind in kinds[:6]:
            add(_sentence(_name(kind), kind.definition), "examples", _name(kind))
        instances = [lexicon.sense(k) for k in main.instances[:12]]
        if len(instances) >= 2:
            names = [_name(k) for k in instances[:3]]
            add(f"Famous examples include {', '.join(names[:-1])} and {names[-1]}.", "examples",
                shown, *names)
        for instance in instances:
            add(_sentence(_name(instance), instance.definition),
                "surprise" if re.search(r"\d", instance.definition) else "examples",
                _name(instance), shown)
        for other in senses[1:3]:
            if other.id not in seen_senses:
                seen_senses.add(other.id)
                text = _clean(other.definition).split(";")[0]
                add(f"The word {noun} can also mean {text}.", "surprise", noun)
        # Nouns of the definition ("a mountain formed by volcanic material"; "molten lava
        # and gases") explain how it works.
        for item in senses[:2]:
            related += [w for w in _definition_nouns(item.definition) if w not in nouns]
    # Then the things those definitions name, two steps out, concrete things only: their
    # definitions, parts, kinds and named instances explain how it works and give examples.
    queue = [(noun, 1) for noun in dict.fromkeys(related)]
    visited = set(nouns)
    while queue and len(facts) < MAX_FACTS:
        noun, depth = queue.pop(0)
        if noun in visited:
            continue
        visited.add(noun)
        senses = _pick_sense(noun, context)
        if not senses or senses[0].id in seen_senses or not _concrete(senses[0]):
            continue
        item = senses[0]
        seen_senses.add(item.id)
        if item.words[0][:1].isupper():
            noun = item.words[0]  # a name found lower-cased in a definition
        add(_sentence(noun, item.definition), "how", noun)
        for part_id in item.parts[:2]:
            part = lexicon.sense(part_id)
            add(_sentence(_name(part), part.definition), "how", _name(part))
        add_kinds(noun, [lexicon.sense(k) for k in item.narrower[:6]], named=3)
        for instance in [lexicon.sense(k) for k in item.instances[:3]]:
            add(_sentence(_name(instance), instance.definition), "examples", _name(instance))
        if depth < 3:
            queue += [(word, depth + 1) for word in _definition_nouns(item.definition)]
    unique: dict[str, LexFact] = {}
    for fact in sorted(facts, key=lambda f: f.priority):  # stable: source order otherwise
        unique.setdefault(fact.text, fact)
    return list(unique.values())


_STRIKING = re.compile(
    r"\b(largest|highest|tallest|biggest|oldest|longest|deepest|most|first|only|\d{2,})\b", re.I
)


_NOT_DRAWABLE = frozenset(
    """
    word words kind kinds recap example examples also called mean means can part parts thing
    things look closer moment start finish scene shape remember dictionary puts famous every
    include includes symptom consisting occurrence form forms central western eastern
    northern southern largest active inactive main major minor ancient modern early late high
    long short
    """.split()
)


MAX_FACTS = 120


def _definition_nouns(definition: str) -> list[str]:
    """The head nouns of a definition: nouns not used as modifiers of the next word."""
    words = re.findall(r"[a-z][a-z-]{3,}", re.sub(r"\([^)]*\)", "", definition.lower()))
    found = []
    for i, word in enumerate(words):
        if word in _NOT_TOPIC or lexicon.is_mainly_modifier(word) or not lexicon.is_noun(word):
            continue
        following = words[i + 1] if i + 1 < len(words) else ""
        if following and lexicon.is_noun(following) and not lexicon.is_mainly_modifier(following):
            continue  # "volcanic material": the head is the next word
        found.append(lexicon.lemma(word) or word)
    return found


@cache
def _concrete(item: lexicon.Sense) -> bool:
    """A physical thing or a natural event: what a picture can show and a viewer can see."""
    names = {w for b in lexicon.broader_terms(item, depth=12) for w in b.words}
    if "physical entity" in names:
        return True
    return bool(names & {"natural phenomenon", "event"}) and not (names & {"cognition"})


def _drawable(text: str) -> list[str]:
    """Nouns of a sentence the illustrator can draw (dictionary form), by name first."""
    named, other = [], []
    for word in icons.prompt_words(text):
        noun = lexicon.lemma(word)
        if noun is None or noun in _NOT_DRAWABLE or word in _NOT_DRAWABLE:
            continue
        if icons.icons_named(noun):
            named.append(noun)
        elif icons.find(noun) is not None:
            other.append(noun)
    return list(dict.fromkeys(named + other))


class FactWriter(OfflineWriter):
    """Offline default writer: facts from the user's documents and the bundled lexicon, laid
    out as hook, what it is, how it works, examples, a surprise and a recap. Not a language
    model: every sentence is a fact from a source, joined by plain framing words."""

    def _call(self):
        call = super()._call()
        return call.model_copy(update={"provider": "offline-writer", "model": "fact-writer-1"})

    def research(self, request, documents):
        if request.language != Language.en:
            return super().research(request, documents)
        topic = _topic(request.prompt)
        sources = [Source(title="the user's prompt", uri="prompt:")]
        facts: list[Fact] = []
        found = lexical_facts(topic)
        # A document sentence is used when it shares a word stem with the topic or with the
        # things the lexicon says the topic involves ("lava" for volcanoes).
        wanted = _stems(topic) | {
            stem for fact in found[:40] for noun in fact.nouns for stem in _stems(noun)
        }
        for path, text in documents:
            link = document_link(text) or Path(path).as_uri()
            sources.append(Source(title=Path(path).name, uri=link))
            for sentence in _sentences(text):
                if len(sentence.split()) > WORD_BUDGET:
                    sentence = _shorten(sentence)
                if sentence and _stems(sentence) & wanted:
                    facts.append(Fact(text=sentence, source_index=len(sources) - 1))
        found = lexical_facts(topic)
        if found:
            sources.append(LEXICON_SOURCE)
            facts += [Fact(text=f.text, source_index=len(sources) - 1) for f in found]
        if not facts:
            facts.append(Fact(text=topic, source_index=0))
        return Research(topic=topic, facts=facts, sources=sources), self._call()

    def write_script(self, request, research, keep):
        if request.language != Language.en:
            return super().write_script(request, research, keep)
        topic = research.topic
        title = topic[:1].upper() + topic[1:]
        sections = {f.text: f.section for f in lexical_facts(topic)}
        nouns = topic_nouns(topic)
        main = nouns[0] if nouns else topic
        pools: dict[str, list[str]] = {s: [] for s in SECTIONS}
        document_sections = ("what", "how", "examples", "surprise")
        document_count = 0
        for fact in research.facts:
            if fact.text == topic:
                continue
            section = sections.get(fact.text)
            if section is None:  # the user's documents: first, spread over the middle
                section = document_sections[document_count % len(document_sections)]
                document_count += 1
                pools[section].insert(document_count // 4, fact.text)
            else:
                pools[section].append(fact.text)
        plan = outline(request.segment_count)
        said = {s.narration for s in keep}
        said_sentences = {x for s in keep for x in re.split(r"(?<=[.!?])\s+", s.narration)}
        segments = list(keep[: request.segment_count])
        covered: list[str] = []  # the things the script named, for the recap
        nouns_of = {f.text: f.nouns for f in lexical_facts(topic)}
        for index in range(len(segments), request.segment_count):
            section = plan[index]
            lead = ""
            if section == "hook":
                lead = f"{title}." if not _QUESTION.match(title) else f"{title}?"
                lead = lead.replace("?.", "?")
            elif section == "recap":
                lead = ""
            sentences = [lead] if lead and lead not in said_sentences else []
            budget = WORD_BUDGET - sum(spoken_words(s) for s in sentences)
            order = {
                "hook": ["examples", "surprise", "what", "how"],
                "what": ["what", "how", "examples"],
                "how": ["how", "what", "examples"],
                "examples": ["examples", "surprise", "how"],
                "surprise": ["surprise", "examples", "how", "what"],
                "recap": ["recap"],
            }[section]
            if section == "recap":
                sentences = []
                candidates = [_recap_line(main, covered)]
            else:
                candidates = [t for name in order for t in pools[name]]
                if section == "hook":  # the most striking fact first
                    candidates.sort(key=lambda t: not _STRIKING.search(t))
            for text in candidates:
                words = spoken_words(text)
                if text in said_sentences or words > budget:
                    continue
                if sentences and len(sentences) > 1 and budget < MIN_WORDS:
                    break
                sentences.append(text)
                said_sentences.add(text)
                budget -= words
                for pool in pools.values():
                    if text in pool:
                        pool.remove(text)
                for noun in nouns_of.get(text, ()):
                    if noun.lower() != main.lower() and noun not in covered:
                        covered.append(noun)
                if WORD_BUDGET - budget >= MIN_WORDS + 7:
                    break
            if len(sentences) <= (1 if lead else 0):
                filler = _filler(main, index, said_sentences)
                sentences.append(filler)
                said_sentences.add(filler)
            narration = " ".join(sentences)
            said.add(narration)
            segments.append(
                SegmentScript(
                    narration=narration,
                    on_screen_text=(title if section == "hook" else LABELS[section])[:80],
                )
            )
        summary = f"A short narrated film about {topic[:1].lower() + topic[1:]}, from " + (
            "the given documents and " if document_count else ""
        ) + "the bundled lexicon."
        return Script(title=title[:120], summary=summary, segments=segments), self._call()

    def image_prompts(self, narration, *, style, count):
        drawable = _drawable(narration.narration) or _drawable(narration.on_screen_text)
        colours = {
            m.group(2): m.group(1)
            for m in re.finditer(r"\b(" + "|".join(icons.COLOURS) + r")\s+(\w+)",
                                 narration.narration.lower())
        }
        night = " at night" if re.search(r"\bnight\b", narration.narration, re.I) else ""
        if not drawable:
            drawable = ["light bulb"]
        framings = ["wide shot", "close-up", "medium shot", "low angle", "overhead view"]
        prompts = []
        for i in range(count):
            subject = drawable[i % len(drawable)]
            others = [w for w in drawable if w != subject][:2]
            thing = f"{colours[subject]} {subject}" if subject in colours else subject
            text = _cap(_with_article(thing))
            if others:
                text += " with " + " and ".join(_with_article(o) for o in others)
            prompts.append(f"{text}{night}, {framings[i % len(framings)]}, {style.value} style")
        return ImagePrompts(prompts=prompts), self._call()


def _with_article(noun: str) -> str:
    """'volcano' -> 'a volcano'; names keep their capitals and take none ('Mount Etna')."""
    senses = lexicon.senses(noun.split()[-1]) if noun else []
    name = senses[0].words[0] if senses and len(noun.split()) == 1 else ""
    if name[:1].isupper() and name.lower() == noun.lower():
        return name
    return lexicon.article(noun)


def _shorten(sentence: str) -> str:
    """A long document sentence cut to the word budget at a clause boundary, else dropped."""
    words = sentence.split()
    for cut in range(WORD_BUDGET, 5, -1):
        if re.search(r"[,;:]$", words[cut - 1]):
            return " ".join(words[:cut]).rstrip(",;:") + "."
    return ""


def _recap_line(main: str, covered: list[str]) -> str:
    """'To recap: we met the volcano, and with it the mountain, the crater and lava.'"""
    things = [n if n[:1].isupper() else f"the {n}" for n in covered[:4]]
    head = main if main[:1].isupper() else f"the {main}"
    if not things:
        return f"To recap, that was {head}, up close."
    listed = things[0] if len(things) == 1 else ", ".join(things[:-1]) + " and " + things[-1]
    return f"To recap: we met {head}, and with it {listed}."


_FILLERS = (
    "Take a closer look at the {noun}.",
    "Picture the {noun} up close.",
    "Think about the {noun} for a moment.",
    "Notice the shape of the {noun}.",
    "Follow the {noun} from start to finish.",
    "Look again at the {noun}.",
)


def _filler(noun: str, index: int, said: set[str]) -> str:
    """A short framing line when the sources have nothing left; never one already said."""
    for offset in range(len(_FILLERS)):
        line = _FILLERS[(index + offset) % len(_FILLERS)].format(noun=noun)
        if line not in said:
            return line
    return f"Here is the {noun} once more, in scene {index + 1}."
