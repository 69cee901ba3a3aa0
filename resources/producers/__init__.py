"""Producers that generate media from prompts (video clips, diffusers images)."""
