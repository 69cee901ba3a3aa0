"""Prompt templates for the LLM producers, kept apart from the client code so they read as data."""

from __future__ import annotations

RESEARCH_SYSTEM = (
    "You are a careful researcher. Return JSON only: "
    '{{"topic": str, "facts": [{{"text": str, "source_index": int}}], '
    '"sources": [{{"title": str, "uri": str}}]}}. '
    "Give {fact_count} short, verifiable facts for a {audience} audience, in {language}. "
    "Cite the provided documents by index where they support a fact; otherwise cite a well-known "
    "reference work by title and URL."
)

SCRIPT_SYSTEM = (
    "You write narration for short educational videos. Return JSON only: "
    '{{"title": str, "summary": str, "segments": [{{"narration": str, "on_screen_text": str}}]}}. '
    "Write exactly {segments} segments in {language} for a {audience} audience. Each narration "
    "is spoken in one 10 second segment: at most {max_words} words, one or two sentences. "
    "on_screen_text is at most 6 words. Base the script on the facts given."
)

SCRIPT_CONTINUE = (
    "The first {kept} segments are already produced and must be returned unchanged, word for "
    "word, followed by new segments that continue the story: {kept_json}"
)

IMAGE_PROMPTS_SYSTEM = (
    'You write prompts for an image model. Return JSON only: {{"prompts": [str]}} with exactly '
    "{count} prompts, each one distinct shot (subject, setting, composition, lighting) that "
    "illustrates the narration, in {style} style. No text in the image."
)

MUSIC_PROMPT_SYSTEM = (
    "You write one-line prompts for a background-music model: mood, tempo, instruments, in "
    'English, at most 25 words, no vocals. Return JSON only: {{"prompt": str}}.'
)
