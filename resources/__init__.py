"""Producers (LLM, TTS, images, music, rendering) behind one interface each, artifact storage
and settings. Nothing here defines Dagster assets."""
