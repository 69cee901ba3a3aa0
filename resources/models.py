"""Pydantic shapes of every structured artifact: the request, research, script, prompts,
speech timings, captions and the timeline. Producers return these; assets store them as JSON."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
        return ASPECT_SIZES[self]


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


class Emotion(StrEnum):
    neutral = "neutral"
    calm = "calm"
    excited = "excited"
    serious = "serious"
    warm = "warm"


MOVIE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


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

    prompt: str = Field(min_length=1, max_length=2000)
    duration_s: int = Field(default=60, description="10 to 300, in steps of 10")
    audience: Audience = Audience.general
    language: Language = Language.en
    voice: str = Field(default="default", min_length=1, max_length=64)
    emotion: Emotion = Emotion.neutral
    images_per_segment: int = Field(default=2, ge=1, le=MAX_IMAGES_PER_SEGMENT)
    image_style: ImageStyle = ImageStyle.documentary
    aspect_ratio: AspectRatio = AspectRatio.portrait
    use_video: bool = False
    is_image_to_video: bool = False
    assembly_strategy: AssemblyStrategy = AssemblyStrategy.crossfade
    music_prompt: str | None = Field(default=None, max_length=500)
    documents: list[str] = Field(
        default_factory=list, description="local text files the research may cite"
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

    @model_validator(mode="after")
    def _video_branches_not_built_yet(self) -> MovieRequest:
        if self.use_video or self.is_image_to_video:
            raise ValueError(
                "use_video / is_image_to_video: video segments are not available yet "
                "(planned in a later release); generate with stills (the default)"
            )
        return self

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
