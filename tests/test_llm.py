"""LLM producers: the offline writer's contract, and the OpenAI client on the real wire format."""


import pytest

from resources.domain.documents import read_documents
from resources.domain.models import (
    Audience,
    ImageStyle,
    Language,
    MovieRequest,
    Script,
    SegmentScript,
)
from resources.producers.text.language_models import OfflineWriter, OpenAIChat, ProducerError
from tests.openai_standin import OpenAIStandIn, movie_chat_reply


def test_offline_script_fits_segments_and_keeps_earlier_ones(tmp_path):
    doc = tmp_path / "volcano.txt"
    doc.write_text(
        "Volcanoes form where magma reaches the surface. Most volcanoes sit on plate edges. "
        "The ring of fire circles the Pacific Ocean. Bread is made from flour."
    )
    writer = OfflineWriter()
    request = MovieRequest(prompt="Tell me about volcanoes", duration_s=60, documents=[str(doc)])
    research, call = writer.research(request, read_documents(request.documents))
    assert call.provider == "offline-writer"
    assert research.topic == "volcanoes"
    assert research.sources[1].uri.endswith("volcano.txt")
    assert "Volcanoes form" in research.facts[0].text  # most relevant sentence first
    script, _ = writer.write_script(request, research, keep=[])
    assert len(script.segments) == 6
    assert all(len(s.narration.split()) <= 22 for s in script.segments)
    longer = request.model_copy(update={"duration_s": 90})
    extended, _ = writer.write_script(longer, research, keep=script.segments)
    assert extended.segments[:6] == script.segments
    assert len(extended.segments) == 9


def test_offline_writer_speaks_the_requested_language():
    writer = OfflineWriter()
    request = MovieRequest(prompt="la Guerra Civil", duration_s=20, language=Language.es)
    research, _ = writer.research(request, [])
    script, _ = writer.write_script(request, research, keep=[])
    assert "Esta es la historia" in script.segments[0].narration
    prompts, _ = writer.image_prompts(script.segments[1], style=ImageStyle.comic, count=3)
    assert len(prompts.prompts) == 3 and len(set(prompts.prompts)) == 3
    assert all("comic" in p for p in prompts.prompts)


def test_read_documents_names_the_bad_path(tmp_path):
    with pytest.raises(ValueError, match="documents: .*missing.txt"):
        read_documents([str(tmp_path / "missing.txt")])


def test_openai_chat_against_the_wire_format():
    with OpenAIStandIn(chat_reply=movie_chat_reply) as api:
        llm = OpenAIChat(api_key="sk-test-secret", base_url=api.base_url, model="gpt-test")
        request = MovieRequest(prompt="Volcanoes", duration_s=20, audience=Audience.kids)
        research, call = llm.research(request, [])
        assert research.facts[0].text == "Hot."
        assert call.tokens == 300 and call.estimated_cost_usd > 0
        kept = [SegmentScript(narration="Kept words.", on_screen_text="K")]
        script, _ = llm.write_script(request, research, keep=kept)
        assert isinstance(script, Script) and len(script.segments) == 2
        assert script.segments[0].narration == "Kept words."
        prompts, _ = llm.image_prompts(script.segments[1], style=ImageStyle.watercolor, count=2)
        assert prompts.prompts == ["a crater at dawn, shot 0", "a crater at dawn, shot 1"]
        music, _ = llm.music_prompt(script, Audience.kids)
        assert music == "slow ambient drones"
        path, body, headers = api.requests[1]
        assert path == "/v1/chat/completions"
        assert body["model"] == "gpt-test"
        assert body["response_format"] == {"type": "json_object"}
        assert "2 segments" in body["messages"][0]["content"]
        assert "Kept words." in body["messages"][1]["content"]
        assert headers["authorization"] == "Bearer sk-test-secret"


def test_openai_errors_carry_the_provider_message_not_the_key():
    with OpenAIStandIn() as api:
        api.fail_with = (400, "model gpt-nope does not exist")
        llm = OpenAIChat(api_key="sk-very-secret", base_url=api.base_url, model="gpt-nope")
        with pytest.raises(ProducerError) as raised:
            llm.music_prompt(
                Script(title="t", summary="s", segments=[SegmentScript(narration="n")]),
                Audience.general,
            )
        assert "gpt-nope does not exist" in str(raised.value)
        assert "sk-very-secret" not in str(raised.value)


def test_openai_malformed_json_is_a_clear_error():
    with OpenAIStandIn(chat_reply=lambda m: '{"prompts": "not a list"}') as api:
        llm = OpenAIChat(api_key="k", base_url=api.base_url)
        with pytest.raises(ProducerError, match="does not match ImagePrompts"):
            llm.image_prompts(SegmentScript(narration="n"), style=ImageStyle.retro, count=2)
