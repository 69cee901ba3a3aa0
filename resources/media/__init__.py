"""Media tools: ffmpeg runs, probing, the segment picture, the soundtrack, the join."""
