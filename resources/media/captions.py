"""Captions: group word timings into short cues, write SRT / WebVTT, wrap cue text to a width.

Everything here is pure (no I/O, no ffmpeg); the renderer burns the cues in with drawtext."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from resources.domain.models import CaptionCue, WordTiming

# A word ending in one of these closes its cue (closing quotes/brackets are looked through).
BREAK_PUNCTUATION = frozenset(".,!?;:…—–")
_CLOSERS = "\"'”’»)]}"
# How long a cue stays up after its last word when the next cue does not start sooner.
DEFAULT_HOLD_S = 0.35
# A silence longer than this between two words starts a new cue.
DEFAULT_MAX_GAP_S = 0.8


def _ends_clause(word: str) -> bool:
    stripped = word.rstrip(_CLOSERS)
    return bool(stripped) and stripped[-1] in BREAK_PUNCTUATION


def cues_from_words(
    words: Sequence[WordTiming],
    offset_s: float = 0.0,
    max_words: int = 5,
    max_chars: int = 32,
    *,
    hold_s: float = DEFAULT_HOLD_S,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> list[CaptionCue]:
    """Group timed words into short caption cues.

    A cue closes after a word ending in punctuation, when it holds `max_words` words, when the
    next word would push it past `max_chars` characters, or at a pause longer than `max_gap_s`.
    A cue starts at its first word's start + `offset_s` and ends at its last word's end +
    `offset_s` + `hold_s`, but never after the next cue starts. Word text is kept literally
    (only surrounding whitespace is dropped; empty words are skipped).
    """
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    items = [(w.start_s, max(w.end_s, w.start_s), w.word.strip()) for w in words]
    items = sorted((i for i in items if i[2]), key=lambda i: i[0])

    groups: list[list[tuple[float, float, str]]] = []
    current: list[tuple[float, float, str]] = []
    for item in items:
        if current:
            text_len = len(" ".join(w for _, _, w in current)) + 1 + len(item[2])
            gap = item[0] - current[-1][1]
            if len(current) >= max_words or text_len > max_chars or gap > max_gap_s:
                groups.append(current)
                current = []
        current.append(item)
        if _ends_clause(item[2]):
            groups.append(current)
            current = []
    if current:
        groups.append(current)

    cues: list[CaptionCue] = []
    for index, group in enumerate(groups):
        start = group[0][0] + offset_s
        end = max(e for _, e, _ in group) + offset_s + hold_s
        if index + 1 < len(groups):
            end = min(end, groups[index + 1][0][0] + offset_s)
        end = max(end, start)
        cues.append(
            CaptionCue(
                start_s=round(start, 3),
                end_s=round(end, 3),
                text=" ".join(w for _, _, w in group),
            )
        )
    return cues


def _timestamp(seconds: float, decimal: str) -> str:
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def srt_timestamp(seconds: float) -> str:
    """01:02:03,456"""
    return _timestamp(seconds, ",")


def vtt_timestamp(seconds: float) -> str:
    """01:02:03.456"""
    return _timestamp(seconds, ".")


def _payload_lines(text: str) -> list[str]:
    # A blank line would end the cue early in both formats, so blank lines are dropped.
    lines = [line.rstrip("\r") for line in text.split("\n")]
    return [line for line in lines if line.strip()] or [""]


def to_srt(cues: Sequence[CaptionCue]) -> str:
    """SubRip: 1-based indices, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text kept literally."""
    blocks = []
    for index, cue in enumerate(cues, start=1):
        lines = _payload_lines(cue.text)
        timing = f"{srt_timestamp(cue.start_s)} --> {srt_timestamp(cue.end_s)}"
        blocks.append("\n".join([str(index), timing, *lines]))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def _vtt_escape(line: str) -> str:
    # WebVTT cue text is markup: &, < and > must be character references to show literally.
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(cues: Sequence[CaptionCue]) -> str:
    """WebVTT: `WEBVTT` header, `HH:MM:SS.mmm --> HH:MM:SS.mmm` timings.

    Text shows literally: only &, < and > are written as character references, which WebVTT
    requires for them to display as themselves."""
    blocks = ["WEBVTT"]
    for cue in cues:
        lines = [_vtt_escape(line) for line in _payload_lines(cue.text)]
        timing = f"{vtt_timestamp(cue.start_s)} --> {vtt_timestamp(cue.end_s)}"
        blocks.append("\n".join([timing, *lines]))
    return "\n\n".join(blocks) + "\n"


def wrap_text(text: str, measure: Callable[[str], float], max_width: float) -> list[str]:
    """Greedy word wrap so that measure(line) <= max_width; over-long words are split by
    character. `measure` returns a rendered width (e.g. a font's getlength)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if measure(candidate) <= max_width:
                current = candidate
                continue
            if current:
                lines.append(current)
                current = ""
            while measure(word) > max_width and len(word) > 1:
                cut = len(word) - 1
                while cut > 1 and measure(word[:cut]) > max_width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        if current:
            lines.append(current)
    return lines
