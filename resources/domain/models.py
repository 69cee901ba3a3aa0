"""Pydantic shapes of every structured artifact: the request, research, script, prompts,
speech timings, captions and the timeline. Producers return these; assets store them as JSON."""

from __future__ import annotations

import os
import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

SEGMENT_SECONDS = 10
MAX_SEGMENTS = 30
MAX_IMAGES_PER_SEGMENT = 5
FPS = 30
# Narration must end before the segment does, leaving room for the cut and a breath.
SPEECH_LEAD_IN_S = 0.25
MAX_SPEECH_S = 9.3


class Audience(StrEnum):
    kids = "kids"
    teens = "teens"
    general = "general"
    experts = "experts"


class Language(StrEnum):
    """Languages every provider supports, including the offline espeak-ng voice."""

    en = "en"
    es = "es"
    fr = "fr"
    de = "de"
    it = "it"
    pt = "pt"
    ru = "ru"
    el = "el"


class ImageStyle(StrEnum):
    documentary = "documentary"
    watercolor = "watercolor"
    comic = "comic"
    cinematic = "cinematic"
    minimal = "minimal"
    retro = "retro"


class AspectRatio(StrEnum):
    portrait = "9:16"
    landscape = "16:9"
    square = "1:1"

    @property
    def size(self) -> tuple[int, int]:
        width, height = ASPECT_SIZES[self]
        # Tests and previews only: MOVIE_RENDER_DIVISOR=N renders every frame N times smaller
        # (even sides, as H.264 needs). Not a user setting: a real movie is always full size.
        divisor = int(os.environ.get("MOVIE_RENDER_DIVISOR") or 1)
        if divisor > 1:
            return (width // divisor // 2 * 2, height // divisor // 2 * 2)
        return width, height


ASPECT_SIZES: dict[AspectRatio, tuple[int, int]] = {
    AspectRatio.portrait: (1080, 1920),
    AspectRatio.landscape: (1920, 1080),
    AspectRatio.square: (1080, 1080),
}


class AssemblyStrategy(StrEnum):
    """How segments are joined in the timeline; affects assembly only, never generation."""

    crossfade = "crossfade"
    cut = "cut"
    fade_through_black = "fade_through_black"


class Blueprint(StrEnum):
    """What a movie's segments are made of unless a segment says otherwise (seed 001)."""

    image = "image"  # stills with Ken Burns motion
    video_by_text = "video-by-text"  # a clip generated from the segment's video prompt
    video_by_image = "video-by-image"  # a clip animated from the segment's first image


class ClipMode(StrEnum):
    """What one segment's picture is: its stills (off), a clip from text, or from its image."""

    off = "off"
    text = "text"
    image = "image"


BLUEPRINT_CLIP_MODE = {
    Blueprint.image: ClipMode.off,
    Blueprint.video_by_text: ClipMode.text,
    Blueprint.video_by_image: ClipMode.image,
}


class Emotion(StrEnum):
    neutral = "neutral"
    calm = "calm"
    excited = "excited"
    serious = "serious"
    warm = "warm"


MOVIE_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # always fullmatch: "abc\n" is no id

# Bidirectional overrides reorder what a terminal or caption shows; they are refused like the
# C0/C1 control characters (ESC, BEL, CR...). Tab and newline are fine in free text.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


_CONTROL_NAMES = {"\x00": "NUL", "\x07": "BEL", "\x08": "BS", "\x1b": "ESC", "\r": "CR",
                  "\n": "newline", "\t": "tab", "\x7f": "DEL"}  # fmt: skip


def _refuse_controls(value: str, allowed: str) -> str:
    for position, char in enumerate(value):
        if char in allowed:
            continue
        if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS:
            name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "control character")
            raise ValueError(
                f"must not contain control characters; found U+{ord(char):04X} ({name}) at "
                f"position {position}"
            )
    return value


def _free_text(value: str) -> str:
    """Prose (prompts, narration): newlines and tabs allowed, Windows line ends normalised."""
    return _refuse_controls(value.replace("\r\n", "\n"), allowed="\n\t")


def _single_line(value: str) -> str:
    """Names and paths: no control character at all, not even a newline."""
    return _refuse_controls(value, allowed="")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


# Every user-typed string goes through one of these, in the request and in every override.
FreeText = Annotated[str, AfterValidator(_free_text)]
SingleLine = Annotated[str, AfterValidator(_single_line)]


def check_voice(value: str, info: ValidationInfo) -> str:
    """With `context={"voices": [...]}` (the chosen TTS's list), an unknown voice is refused
    here, before any run; without it (loading saved inputs) only the shape is checked."""
    voices = (info.context or {}).get("voices")
    if voices is not None and value != "default" and value not in voices:
        ordered = sorted(voices, key=lambda name: (len(name), name))  # f1..m7 before "Annie"
        more = f" (+{len(ordered) - 20} more)" if len(ordered) > 20 else ""
        shown = ", ".join(ordered[:20]) + more
        raise ValueError(f"unknown voice {value!r} for this TTS; use 'default' or one of: {shown}")
    return value


def check_drawable(value: str | None, info: ValidationInfo) -> str | None:
    """With `context={"check_glyphs": True}`, text shown on screen must be drawable by a bundled
    font (see resources/media/fonts.py); otherwise it would come out as empty boxes."""
    if value and (info.context or {}).get("check_glyphs"):
        from resources.media.fonts import undrawable

        missing = undrawable(value)
        if missing:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:5])
            raise ValueError(f"has characters no caption font can draw: {shown}; remove them")
    return value


# Prose that ends up on screen (captions, titles).
OnScreenText = Annotated[str, AfterValidator(_free_text), AfterValidator(check_drawable)]

VoiceName = Annotated[
    str,
    Field(min_length=1, max_length=64),
    AfterValidator(_single_line),
    AfterValidator(_not_blank),
    AfterValidator(check_voice),
]


def segment_key(index: int) -> str:
    return f"s{index:02d}"


def shot_key(segment_index: int, image_index: int) -> str:
    return f"s{segment_index:02d}i{image_index}"


def parse_shot_key(key: str) -> tuple[int, int]:
    match = re.fullmatch(r"s(\d{2})i(\d)", key)
    if not match:
        raise ValueError(f"shot key {key!r} must look like s03i1")
    return int(match.group(1)), int(match.group(2))


class MovieRequest(BaseModel):
    """What the user asked for. Every field is validated with a message naming the rule."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    prompt: OnScreenText = Field(min_length=1, max_length=2000)
    duration_s: int = Field(default=60, description="10 to 300, in steps of 10")
    audience: Audience = Audience.general
    language: Language = Language.en
    voice: VoiceName = "default"
    emotion: Emotion = Emotion.neutral
    images_per_segment: int = Field(default=2, ge=1, le=MAX_IMAGES_PER_SEGMENT)
    image_style: ImageStyle = ImageStyle.documentary
    aspect_ratio: AspectRatio = AspectRatio.portrait
    blueprint: Blueprint = Blueprint.image
    assembly_strategy: AssemblyStrategy = AssemblyStrategy.crossfade
    music_prompt: FreeText | None = Field(default=None, max_length=500)
    documents: list[Annotated[SingleLine, Field(min_length=1, max_length=4096)]] = Field(
        default_factory=list, max_length=20, description="local text files the research may cite"
    )
    seed: int = Field(default=7, ge=0)

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be empty or only whitespace")
        return value.strip()

    @field_validator("duration_s")
    @classmethod
    def _duration_in_segments(cls, value: int) -> int:
        limit = SEGMENT_SECONDS * MAX_SEGMENTS
        if value < SEGMENT_SECONDS or value > limit or value % SEGMENT_SECONDS:
            raise ValueError(
                f"duration_s must be a multiple of {SEGMENT_SECONDS} between "
                f"{SEGMENT_SECONDS} and {limit} seconds, got {value}"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _video_flags_to_blueprint(cls, data: object) -> object:
        """The seed's use_video / is_image_to_video flags are another way to name a blueprint."""
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if not (k == "blueprint" and v is None)}
        if not ({"use_video", "is_image_to_video"} & data.keys()):
            return data
        use_video, from_image = data.pop("use_video", False), data.pop("is_image_to_video", False)
        if not (use_video or from_image):
            return data
        implied = Blueprint.video_by_image if from_image else Blueprint.video_by_text
        given = data.get("blueprint")
        if given is not None and str(given) != implied.value:
            raise ValueError(
                f"use_video / is_image_to_video: they mean blueprint {implied.value!r}, which "
                f"conflicts with blueprint {str(given)!r}; give only --blueprint"
            )
        data["blueprint"] = implied.value
        return data

    @property
    def segment_count(self) -> int:
        return self.duration_s // SEGMENT_SECONDS

    @property
    def size(self) -> tuple[int, int]:
        return self.aspect_ratio.size

    def segment_keys(self) -> list[str]:
        return [segment_key(i) for i in range(self.segment_count)]

    def shot_keys(self) -> list[str]:
        return [
            shot_key(s, i)
            for s in range(self.segment_count)
            for i in range(self.images_per_segment)
        ]


class Source(BaseModel):
    title: str
    uri: str


class Fact(BaseModel):
    text: str
    source_index: int = Field(ge=0, description="index into Research.sources")


class Research(BaseModel):
    topic: str
    facts: list[Fact]
    sources: list[Source]


class SegmentScript(BaseModel):
    narration: str = Field(min_length=1)
    on_screen_text: str = Field(default="", max_length=80)


class Script(BaseModel):
    title: str = Field(min_length=1, max_length=120)
    summary: str = Field(min_length=1)
    segments: list[SegmentScript] = Field(min_length=1, max_length=MAX_SEGMENTS)


class ImagePrompts(BaseModel):
    prompts: list[str] = Field(min_length=1, max_length=MAX_IMAGES_PER_SEGMENT)


class VideoPrompt(BaseModel):
    """The motion prompt of one segment's clip; empty when the segment is stills (mode off)."""

    mode: ClipMode
    prompt: str = ""


class SegmentClip(BaseModel):
    """What `segment_clip` made for one segment: a clip, nothing (stills), or a fallback."""

    mode: ClipMode
    frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    # "stills" when the clip failed after its retries and the segment shows its stills instead.
    fallback: str | None = None
    error: str | None = None

    @property
    def has_clip(self) -> bool:
        return self.mode is not ClipMode.off and self.fallback is None


class WordTiming(BaseModel):
    word: str
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)


class SpeechTimings(BaseModel):
    """Word timings of one narration clip, in seconds from the clip's start."""

    duration_s: float
    words: list[WordTiming]


class CaptionCue(BaseModel):
    start_s: float
    end_s: float
    text: str


class ProducerCall(BaseModel):
    """What one provider call made and cost; recorded as asset metadata."""

    provider: str
    model: str
    seed: int | None = None
    estimated_cost_usd: float = 0.0
    tokens: int | None = None
    # GPU time the call took (diffusers producers); on an Akash lease its cost is in the USD.
    gpu_seconds: float | None = None
    # What the producer chose and why, shown as metadata of the artifact (e.g. which pictures an
    # offline illustration used, a note that a fallback voice spoke, credits to attribute).
    details: dict[str, Any] | None = None


class TimelineClip(BaseModel):
    """One clip on a track, in frames, as Remotion's <Sequence from durationInFrames> sees it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    start_frame: int = Field(alias="from", ge=0)
    duration_in_frames: int = Field(alias="durationInFrames", gt=0)
    src: str | None = None
    sha256: str | None = None
    text: str | None = None
    volume: float | None = None
    transition: str | None = None


class TimelineTrack(BaseModel):
    id: str
    kind: str = Field(pattern="^(video|audio|captions)$")
    clips: list[TimelineClip]


class Timeline(BaseModel):
    """Remotion-compatible composition: fps, size, total frames, and tracks of clips."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    title: str
    fps: int = FPS
    width: int
    height: int
    duration_in_frames: int = Field(alias="durationInFrames")
    assembly: AssemblyStrategy
    tracks: list[TimelineTrack]

    def track(self, track_id: str) -> TimelineTrack:
        return next(t for t in self.tracks if t.id == track_id)
