"""Credits a movie must carry for the content its producers drew from (licences that ask for
attribution, and notes about use), shown as the final video's `credits` metadata."""

from __future__ import annotations

from resources.producers import lexicon
from resources.producers.images import icons


def credits_for(*producers: object) -> list[str]:
    """The credit lines for the producers that made a movie (any order, unknown ones skipped)."""
    from resources.producers.images.illustrator import OfflineIllustrator
    from resources.producers.speech.text_to_speech import PIPER_CREDIT, EspeakTTS, OfflineVoice
    from resources.producers.text.fact_writer import FactWriter

    lines: list[str] = []
    for producer in producers:
        if isinstance(producer, FactWriter):
            lines.append(lexicon.CREDIT)
        elif isinstance(producer, OfflineIllustrator):
            lines.append(icons.OPENMOJI_CREDIT)
        elif isinstance(producer, OfflineVoice):
            lines.append(PIPER_CREDIT)
            lines.append("Other languages: espeak-ng (GPL-3.0-or-later)")
        elif isinstance(producer, EspeakTTS):
            lines.append("Voice: espeak-ng (GPL-3.0-or-later)")
    return list(dict.fromkeys(lines))
