"""Choosing providers is configuration: environment in, resources out; secrets stay out."""

import dagster as dg
import pytest

from movie_assets.assets.producer_steps import producer_identity
from movie_assets.producer_resources import producer_resources
from resources.producers.images.illustrator import OfflineIllustrator
from resources.producers.images.openai_images import OpenAIImages
from resources.producers.images.painter import OfflineArtist
from resources.producers.speech.text_to_speech import EspeakTTS, OfflineVoice, OpenAITTS
from resources.producers.text.fact_writer import FactWriter
from resources.producers.text.language_models import OfflineWriter, OpenAIChat


def test_offline_by_default():
    chosen = producer_resources({})
    assert isinstance(chosen["llm"], FactWriter)
    # The previous template writer stays available (bench/generate_bench.py compares them).
    assert type(producer_resources({"MOVIE_LLM": "template"})["llm"]) is OfflineWriter
    assert isinstance(chosen["tts"], OfflineVoice)
    assert isinstance(chosen["images"], OfflineIllustrator)
    # The previous offline painter stays available (bench/generate_bench.py compares them).
    assert isinstance(producer_resources({"MOVIE_IMAGES": "painter"})["images"], OfflineArtist)


def test_api_key_selects_openai_for_every_role_it_serves():
    chosen = producer_resources({"OPENAI_API_KEY": "sk-x"})
    assert isinstance(chosen["llm"], OpenAIChat)
    assert isinstance(chosen["tts"], OpenAITTS)
    assert isinstance(chosen["images"], OpenAIImages)
    # The key is an EnvVar reference resolved at run time, not a literal in the definitions.
    assert isinstance(chosen["llm"].api_key, dg.EnvVar)


def test_base_url_alone_serves_the_llm_only_and_roles_can_be_forced():
    chosen = producer_resources({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"})
    assert isinstance(chosen["llm"], OpenAIChat)
    assert chosen["llm"].base_url == "http://127.0.0.1:11434/v1"
    assert isinstance(chosen["tts"], OfflineVoice)
    forced = producer_resources({"OPENAI_API_KEY": "sk-x", "MOVIE_TTS": "offline"})
    assert isinstance(forced["tts"], OfflineVoice)
    # The previous offline voice stays available (bench/generate_bench.py compares them).
    assert isinstance(producer_resources({"MOVIE_TTS": "espeak"})["tts"], EspeakTTS)


def test_unknown_choice_names_the_variable():
    with pytest.raises(ValueError, match="MOVIE_IMAGES must be one of offline, openai"):
        producer_resources({"MOVIE_IMAGES": "midjourney"})


def test_producer_identity_never_contains_the_key():
    llm = OpenAIChat(api_key="sk-secret-value", model="gpt-test")
    identity = producer_identity(llm)
    assert identity["producer"] == "OpenAIChat" and identity["model"] == "gpt-test"
    assert "sk-secret-value" not in repr(identity)
    other_key = producer_identity(OpenAIChat(api_key="sk-other", model="gpt-test"))
    assert identity == other_key
