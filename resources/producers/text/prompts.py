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

TEXT_TO_VIDEO_SYSTEM = (
    "You write prompts for a text-to-video model that makes one 5 second shot. Return JSON only: "
    '{{"prompt": str}}: one paragraph, at most 60 words, describing the subject, the setting, '
    "the camera movement and what moves in the scene, in {style} style, illustrating the "
    "narration. No text in the video, no cuts."
)

IMAGE_TO_VIDEO_SYSTEM = (
    "You write prompts for an image-to-video model that animates the first picture of a "
    'segment into one 5 second shot. Return JSON only: {{"prompt": str}}: at most 40 words on '
    "how the camera moves and what in the picture moves (water, clouds, people, light), in "
    "{style} style, matching the narration. No new objects, no text, no cuts."
)
