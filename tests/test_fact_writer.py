"""The offline default writer: true, non-repeating narration from documents and the bundled
lexicon, and image prompts the offline illustrator can draw."""

from __future__ import annotations

import re

import pytest

from resources.domain.models import MAX_SPEECH_S, ImageStyle, Language, MovieRequest
from resources.producers import lexicon
from resources.producers.images import icons
from resources.producers.speech.piper_voice import SECONDS_PER_WORD
from resources.producers.text.fact_writer import WORD_BUDGET, FactWriter, outline

TOPICS = {
    "animals": "Tell me about elephants",
    "places": "Paris",
    "natural phenomena": "How volcanoes erupt",
    "machines": "How steam engines work",
    "history": "The Roman Empire",
}


def script_for(prompt: str, duration: int = 60, documents=(), **extra):
    writer = FactWriter()
    request = MovieRequest(prompt=prompt, duration_s=duration, **extra)
    research, _ = writer.research(request, list(documents))
    script, call = writer.write_script(request, research, [])
    return writer, research, script, call


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


@pytest.mark.parametrize("prompt", TOPICS.values(), ids=TOPICS.keys())
def test_every_shot_prompt_names_a_picture_the_illustrator_matches(prompt):
    writer, _, script, _ = script_for(prompt)
    assert len(script.segments) == 6
    for segment in script.segments:
        prompts, _ = writer.image_prompts(segment, style=ImageStyle.documentary, count=3)
        for text in prompts.prompts:
            choice = icons.choose(text)
            assert not choice.matches[0].how.startswith("generic"), text
            assert all(m.word and m.word in text.lower() for m in choice.matches), text


@pytest.mark.parametrize("prompt", TOPICS.values(), ids=TOPICS.keys())
def test_no_sentence_repeats_in_a_300_s_movie(prompt):
    _, _, script, _ = script_for(prompt, duration=300)
    assert len(script.segments) == 30
    said = [s for segment in script.segments for s in sentences(segment.narration)]
    assert len(said) == len(set(said)), [s for s in said if said.count(s) > 1]
    narrations = [segment.narration for segment in script.segments]
    assert len(narrations) == len(set(narrations))


@pytest.mark.parametrize("prompt", TOPICS.values(), ids=TOPICS.keys())
@pytest.mark.parametrize("duration", [60, 300])
def test_each_segment_fits_its_clip_at_the_voice_pace(prompt, duration):
    _, _, script, _ = script_for(prompt, duration=duration)
    for segment in script.segments:
        words = len(segment.narration.split())
        assert 5 <= words <= WORD_BUDGET, segment.narration
        assert words * SECONDS_PER_WORD <= MAX_SPEECH_S


def test_narration_names_facts_from_the_lexicon():
    _, research, script, _ = script_for("How volcanoes erupt")
    narration = " ".join(s.narration for s in script.segments)
    volcano = next(s for s in lexicon.senses("volcano") if "mountain" in s.definition)
    assert volcano.definition in narration  # "a mountain formed by volcanic material"
    eruption = lexicon.senses("eruption")
    assert any(s.definition in narration for s in eruption)
    assert research.sources[-1].title.startswith("Princeton WordNet")
    lexicon_facts = {f.text for f in research.facts if f.source_index == len(research.sources) - 1}
    said = set(sentences(narration))
    assert len(said & lexicon_facts) >= 8


def test_the_users_document_comes_first(tmp_path):
    document = (
        "Kilauea on Hawaii erupted almost continuously from 1983 to 2018. "
        "Its lava flows added new land to the island's coast. "
        "Unrelated sentence about cooking pasta in salted water tonight."
    )
    path = str(tmp_path / "kilauea.txt")
    _, research, script, _ = script_for("How volcanoes erupt", documents=[(path, document)])
    assert research.facts[0].text.startswith("Kilauea on Hawaii erupted")
    assert research.sources[research.facts[0].source_index].title == "kilauea.txt"
    narration = " ".join(s.narration for s in script.segments)
    assert "Kilauea on Hawaii erupted almost continuously from 1983 to 2018." in narration
    assert "Its lava flows added new land to the island's coast." in narration
    assert "pasta" not in narration


def test_outline_scales_with_duration():
    assert outline(3) == ["hook", "what", "recap"]
    assert outline(6) == ["hook", "what", "how", "examples", "surprise", "recap"]
    long = outline(30)
    assert len(long) == 30 and long[0] == "hook" and long[-1] == "recap"
    assert {"what", "how", "examples", "surprise"} <= set(long)
    _, _, script, _ = script_for("How volcanoes erupt", duration=30)
    assert [s.on_screen_text for s in script.segments] == [
        "How volcanoes erupt", "What it is", "Recap"
    ]


def test_same_request_same_script_and_the_call_says_what_it_is():
    _, _, first, call = script_for("Tell me about elephants")
    _, _, second, _ = script_for("Tell me about elephants")
    assert first == second
    assert call.provider == "offline-writer" and call.model == "fact-writer-1"


def test_a_colour_and_night_in_the_narration_reach_the_image_prompt():
    writer = FactWriter()
    segment = script_for("How volcanoes erupt")[2].segments[0].model_copy(
        update={"narration": "A red volcano glows over the village at night."}
    )
    prompts, _ = writer.image_prompts(segment, style=ImageStyle.comic, count=1)
    assert prompts.prompts[0].startswith("A red volcano")
    assert "at night" in prompts.prompts[0]


def test_other_languages_get_the_template_writer():
    _, research, script, _ = script_for("Los volcanes", language=Language.es)
    assert len(script.segments) == 6
    assert all(f.source_index == 0 for f in research.facts)


def test_the_budget_counts_what_the_voice_says_not_whitespace_runs():
    from resources.producers.text.fact_writer import spoken_words

    assert spoken_words("How volcanoes erupt.") == 3
    # A URL is one run of text but the voice reads each part (and its slashes) aloud.
    assert spoken_words("see https://host.invalid/beacon.png") >= 6
