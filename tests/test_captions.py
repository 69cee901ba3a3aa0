from __future__ import annotations

import pytest

from resources.domain.models import CaptionCue, WordTiming
from resources.media.captions import (
    cues_from_words,
    srt_timestamp,
    to_srt,
    to_webvtt,
    vtt_timestamp,
    wrap_text,
)

SPECIAL = 'He said "50% off: C:\\path\\new {x}" — Привет, Γειά'


def words(*spec: tuple[str, float, float]) -> list[WordTiming]:
    return [WordTiming(word=w, start_s=s, end_s=e) for w, s, e in spec]


def even_words(text: str, start: float = 0.0, step: float = 0.3) -> list[WordTiming]:
    out = []
    for i, w in enumerate(text.split()):
        out.append(WordTiming(word=w, start_s=start + i * step, end_s=start + i * step + 0.25))
    return out


def test_breaks_at_punctuation():
    cues = cues_from_words(even_words("Hello there. How are you?"))
    assert [c.text for c in cues] == ["Hello there.", "How are you?"]


def test_breaks_at_closing_quote_after_punctuation():
    cues = cues_from_words(even_words('She said "stop." Then left'))
    assert [c.text for c in cues] == ['She said "stop."', "Then left"]


def test_max_words_limit():
    cues = cues_from_words(even_words("one two three four five six seven"), max_words=3)
    assert [c.text for c in cues] == ["one two three", "four five six", "seven"]


def test_max_chars_limit():
    text = "alpha beta gamma delta epsilon zeta eta theta"
    cues = cues_from_words(even_words(text), max_words=10, max_chars=16)
    assert all(len(c.text) <= 16 for c in cues)
    assert " ".join(c.text for c in cues) == text


def test_single_long_word_is_kept_whole():
    cues = cues_from_words(even_words("Donaudampfschifffahrtsgesellschaft ok"), max_chars=10)
    assert [c.text for c in cues] == ["Donaudampfschifffahrtsgesellschaft", "ok"]


def test_long_pause_starts_new_cue():
    cues = cues_from_words(words(("a", 0.0, 0.2), ("b", 0.3, 0.5), ("c", 2.0, 2.2)))
    assert [c.text for c in cues] == ["a b", "c"]


def test_offset_start_end_and_hold():
    cues = cues_from_words(words(("Hi.", 0.5, 0.9), ("Bye", 3.0, 3.4)), offset_s=10.0)
    assert cues[0].start_s == pytest.approx(10.5)
    assert cues[0].end_s == pytest.approx(10.9 + 0.35)
    assert cues[1].start_s == pytest.approx(13.0)
    assert cues[1].end_s == pytest.approx(13.4 + 0.35)


def test_hold_never_overlaps_next_cue():
    ws = even_words("One. Two. Three. Four.", step=0.27)
    cues = cues_from_words(ws, offset_s=1.0)
    assert len(cues) == 4
    for a, b in zip(cues, cues[1:], strict=False):
        assert a.end_s <= b.start_s
        assert a.start_s < a.end_s


def test_empty_words_and_whitespace_skipped():
    cues = cues_from_words(words(("  ", 0.0, 0.1), ("", 0.1, 0.2), (" yes ", 0.2, 0.4)))
    assert [c.text for c in cues] == ["yes"]
    assert cues_from_words([]) == []


def test_special_text_kept_literally():
    cues = cues_from_words(even_words(SPECIAL), max_words=50, max_chars=200)
    assert " ".join(c.text for c in cues) == SPECIAL


def test_invalid_limits():
    with pytest.raises(ValueError):
        cues_from_words([], max_words=0)


def test_timestamps():
    assert srt_timestamp(0) == "00:00:00,000"
    assert srt_timestamp(3723.4567) == "01:02:03,457"
    assert vtt_timestamp(59.9996) == "00:01:00.000"
    assert vtt_timestamp(-1) == "00:00:00.000"


def test_srt_format():
    cues = [
        CaptionCue(start_s=0.5, end_s=1.25, text="Hello"),
        CaptionCue(start_s=61.0, end_s=62.5, text=SPECIAL),
    ]
    assert to_srt(cues) == (
        f"1\n00:00:00,500 --> 00:00:01,250\nHello\n\n2\n00:01:01,000 --> 00:01:02,500\n{SPECIAL}\n"
    )
    assert to_srt([]) == ""


def test_webvtt_format():
    cues = [
        CaptionCue(start_s=0.5, end_s=1.25, text="Hello"),
        CaptionCue(start_s=3600.0, end_s=3601.0, text=SPECIAL),
    ]
    assert to_webvtt(cues) == (
        "WEBVTT\n\n00:00:00.500 --> 00:00:01.250\nHello\n\n"
        f"01:00:00.000 --> 01:00:01.000\n{SPECIAL}\n"
    )
    assert to_webvtt([]) == "WEBVTT\n"


def test_webvtt_escapes_markup_characters():
    vtt = to_webvtt([CaptionCue(start_s=0, end_s=1, text="a < b & c --> d")])
    assert "a &lt; b &amp; c --&gt; d" in vtt


def test_blank_lines_cannot_end_a_cue_early():
    srt = to_srt([CaptionCue(start_s=0, end_s=1, text="top\n\nbottom")])
    assert srt == "1\n00:00:00,000 --> 00:00:01,000\ntop\nbottom\n"


def test_wrap_text_by_width():
    lines = wrap_text("aaa bbb ccc ddd", len, 7)
    assert lines == ["aaa bbb", "ccc ddd"]
    assert wrap_text("abcdefghij", len, 4) == ["abcd", "efgh", "ij"]
    assert wrap_text("", len, 10) == []
