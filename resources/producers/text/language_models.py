"""Language-model producers: research, script, image prompts and the music prompt.

`OpenAIChat` talks to any OpenAI-compatible chat endpoint (OpenAI, Ollama, vLLM) and validates
the JSON it returns against the artifact models. `OfflineWriter` is the built-in default with no
network: a deterministic template writer that builds the script from the prompt and any local
documents the user passes. It is not a language model and says so in its metadata.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TypeVar

import dagster as dg
from pydantic import BaseModel, ValidationError

from resources.domain.errors import ProviderError
from resources.domain.feeds import document_link
from resources.domain.models import (
    Audience,
    Fact,
    ImagePrompts,
    ImageStyle,
    Language,
    MovieRequest,
    ProducerCall,
    Research,
    Script,
    SegmentScript,
    Source,
)
from resources.producers.openai_http import OpenAIConnection
from resources.producers.text import prompts

# Roughly what fits in one 10 s segment at a natural speaking rate.
MAX_WORDS_PER_SEGMENT = 22

M = TypeVar("M", bound=BaseModel)


class ProducerError(ProviderError):
    """The language model failed or answered in the wrong shape."""


class LanguageModel(dg.ConfigurableResource, ABC):
    max_concurrency: int = 4

    @abstractmethod
    def research(
        self, request: MovieRequest, documents: list[tuple[str, str]]
    ) -> tuple[Research, ProducerCall]: ...

    @abstractmethod
    def write_script(
        self, request: MovieRequest, research: Research, keep: list[SegmentScript]
    ) -> tuple[Script, ProducerCall]:
        """A script of request.segment_count segments; the first len(keep) are `keep` verbatim."""

    @abstractmethod
    def image_prompts(
        self, narration: SegmentScript, *, style: ImageStyle, count: int
    ) -> tuple[ImagePrompts, ProducerCall]:
        """`count` shot prompts for one segment, from that segment's narration alone."""

    @abstractmethod
    def music_prompt(self, script: Script, audience: Audience) -> tuple[str, ProducerCall]: ...

    @abstractmethod
    def video_prompt(
        self, narration: SegmentScript, *, style: ImageStyle, from_image: bool
    ) -> tuple[str, ProducerCall]:
        """The motion prompt of one segment's clip: the whole scene and its motion, or (with
        from_image) how to animate the segment's first image."""


# ---------------------------------------------------------------------------------------------
# Offline default

_TEMPLATES: dict[Language, dict[str, list[str] | str]] = {
    Language.en: {
        "intro": "{Topic}. Here is the story in a few short scenes.",
        "angles": [
            "First, the basics of {topic}.",
            "Where the story of {topic} began, and why it mattered then.",
            "The key steps behind {topic}, one by one.",
            "The people and places at the heart of {topic}.",
            "A surprising detail about {topic}.",
            "How our understanding of {topic} changed over time.",
            "What all of this means for us today.",
            "What to remember about {topic}.",
        ],
        "labels": [
            "The basics",
            "Origins",
            "Step by step",
            "People and places",
            "A surprise",
            "Then and now",
            "Why it matters",
            "Remember",
        ],
        "summary": "A short narrated film about {topic}.",
    },
    Language.es: {
        "intro": "{Topic}. Esta es la historia en pocas escenas.",
        "angles": [
            "Primero, qué es realmente {topic}.",
            "Dónde comenzó {topic} y por qué importó.",
            "Cómo funciona {topic}, paso a paso.",
            "Las personas y los lugares marcados por {topic}.",
            "Un detalle sorprendente sobre {topic}.",
            "Cómo cambió {topic} con el tiempo.",
            "Por qué {topic} sigue importando hoy.",
            "Qué recordar sobre {topic}.",
        ],
        "summary": "Una breve película narrada sobre {topic}.",
    },
    Language.fr: {
        "intro": "{Topic}. Voici l'histoire en quelques scènes.",
        "angles": [
            "D'abord, ce qu'est vraiment {topic}.",
            "Où {topic} a commencé, et pourquoi cela comptait.",
            "Comment fonctionne {topic}, étape par étape.",
            "Les personnes et les lieux marqués par {topic}.",
            "Un détail surprenant sur {topic}.",
            "Comment {topic} a changé avec le temps.",
            "Pourquoi {topic} compte encore aujourd'hui.",
            "Ce qu'il faut retenir de {topic}.",
        ],
        "summary": "Un court film commenté sur {topic}.",
    },
    Language.de: {
        "intro": "{Topic}. Hier ist die Geschichte in wenigen Szenen.",
        "angles": [
            "Zuerst, was {topic} wirklich ist.",
            "Wo {topic} begann und warum es damals wichtig war.",
            "Wie {topic} funktioniert, Schritt für Schritt.",
            "Die Menschen und Orte, die {topic} geprägt hat.",
            "Ein überraschendes Detail über {topic}.",
            "Wie sich {topic} im Lauf der Zeit verändert hat.",
            "Warum {topic} heute noch wichtig ist.",
            "Was man über {topic} behalten sollte.",
        ],
        "summary": "Ein kurzer erzählter Film über {topic}.",
    },
    Language.it: {
        "intro": "{Topic}. Ecco la storia in poche scene.",
        "angles": [
            "Prima di tutto, che cosa è davvero {topic}.",
            "Dove è iniziato {topic} e perché contava.",
            "Come funziona {topic}, passo dopo passo.",
            "Le persone e i luoghi segnati da {topic}.",
            "Un dettaglio sorprendente su {topic}.",
            "Come è cambiato {topic} nel tempo.",
            "Perché {topic} conta ancora oggi.",
            "Che cosa ricordare di {topic}.",
        ],
        "summary": "Un breve film narrato su {topic}.",
    },
    Language.pt: {
        "intro": "{Topic}. Esta é a história em poucas cenas.",
        "angles": [
            "Primeiro, o que {topic} realmente é.",
            "Onde {topic} começou e por que importava.",
            "Como {topic} funciona, passo a passo.",
            "As pessoas e os lugares marcados por {topic}.",
            "Um detalhe surpreendente sobre {topic}.",
            "Como {topic} mudou ao longo do tempo.",
            "Por que {topic} ainda importa hoje.",
            "O que lembrar sobre {topic}.",
        ],
        "summary": "Um breve filme narrado sobre {topic}.",
    },
    Language.ru: {
        "intro": "{Topic}. Вот история в нескольких коротких сценах.",
        "angles": [
            "Сначала о том, что такое {topic}.",
            "Где началась тема «{topic}» и почему это было важно.",
            "Как устроено {topic}, шаг за шагом.",
            "Люди и места, связанные с темой «{topic}».",
            "Удивительная деталь о теме «{topic}».",
            "Как {topic} менялось со временем.",
            "Почему {topic} важно и сегодня.",
            "Что стоит запомнить о теме «{topic}».",
        ],
        "summary": "Короткий фильм с озвучкой о теме «{topic}».",
    },
    Language.el: {
        "intro": "{Topic}. Η ιστορία σε λίγες σύντομες σκηνές.",
        "angles": [
            "Πρώτα, τι είναι πραγματικά {topic}.",
            "Πού ξεκίνησε {topic} και γιατί είχε σημασία.",
            "Πώς λειτουργεί {topic}, βήμα βήμα.",
            "Οι άνθρωποι και οι τόποι που σημάδεψε {topic}.",
            "Μια εκπληκτική λεπτομέρεια για {topic}.",
            "Πώς άλλαξε {topic} με τον καιρό.",
            "Γιατί {topic} έχει σημασία ακόμα και σήμερα.",
            "Τι να θυμάστε για {topic}.",
        ],
        "summary": "Μια σύντομη αφηγημένη ταινία για {topic}.",
    },
}

_STOPWORDS = set(
    "a an the of to in on and or for about me tell show what how why is are was were with "
    "explain story history".split()
)


def _topic(prompt: str) -> str:
    """'Tell me about the Civil War' -> 'the Civil War'; short prompts are kept as they are."""
    text = prompt.strip().rstrip(".?!")
    text = re.sub(
        r"^(please\s+)?(tell me about|tell me|explain|show me|what is|what are|how does|"
        r"how do|why is|why do|a movie about|a video about)\s+",
        "",
        text,
        flags=re.IGNORECASE,
    )
    return text[:80] or prompt[:80]


def _keywords(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if w not in _STOPWORDS and len(w) > 2}


def _fit_words(text: str, limit: int) -> str:
    words = text.split()
    if len(words) <= limit:
        return text
    return " ".join(words[:limit]).rstrip(",;:") + "."


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text))
    return [p.strip() for p in parts if 4 <= len(p.split()) <= 40]


class OfflineWriter(LanguageModel):
    """Deterministic template writer: no network, no keys. Facts come only from the user's
    documents; without documents the script frames the prompt's topic scene by scene."""

    def _call(self) -> ProducerCall:
        return ProducerCall(provider="offline-writer", model="offline-template-writer-1")

    def research(self, request, documents):
        topic = _topic(request.prompt)
        sources = [Source(title="the user's prompt", uri="prompt:")]
        facts: list[Fact] = []
        wanted = _keywords(request.prompt)
        scored = []
        for path, text in documents:
            # A feed entry's document names its article: cite that, not the local copy.
            link = document_link(text) or Path(path).as_uri()
            sources.append(Source(title=Path(path).name, uri=link))
            for order, sentence in enumerate(_sentences(text)):
                score = len(_keywords(sentence) & wanted)
                scored.append((-score, len(sources) - 1, order, sentence))
        for _, source_index, _, sentence in sorted(scored)[: request.segment_count]:
            facts.append(Fact(text=sentence, source_index=source_index))
        if not facts:
            facts.append(Fact(text=topic, source_index=0))
        return Research(topic=topic, facts=facts, sources=sources), self._call()

    def write_script(self, request, research, keep):
        templates = _TEMPLATES[request.language]
        angles = templates["angles"]
        assert isinstance(angles, list)
        topic = research.topic
        title = topic[:1].upper() + topic[1:]
        # Mid-sentence, "How volcanoes erupt" reads as "how volcanoes erupt"; keep acronyms.
        mid = topic if topic[1:2].isupper() else topic[:1].lower() + topic[1:]
        document_facts = [f.text for f in research.facts if f.source_index > 0]
        segments = list(keep[: request.segment_count])
        # Each segment depends only on its index, so a longer movie keeps its earlier segments.
        for index in range(len(segments), request.segment_count):
            labels = templates.get("labels")
            if index == 0:
                narration = str(templates["intro"]).format(topic=mid, Topic=title)
                on_screen = title
            else:
                angle = (index - 1) % len(angles)
                narration = angles[angle].format(topic=mid, Topic=title)
                on_screen = labels[angle] if isinstance(labels, list) else title
            if document_facts:
                narration = f"{narration} {document_facts[index % len(document_facts)]}"
            segments.append(
                SegmentScript(
                    narration=_fit_words(narration, MAX_WORDS_PER_SEGMENT),
                    on_screen_text=_fit_words(on_screen, 6)[:80],
                )
            )
        summary = str(templates["summary"]).format(topic=mid)
        return Script(title=title[:120], summary=summary, segments=segments), self._call()

    def image_prompts(self, narration, *, style, count):
        subject = narration.on_screen_text or _fit_words(narration.narration, 6)
        framings = [
            "wide establishing shot",
            "close-up detail",
            "people at work, medium shot",
            "dramatic low angle",
            "overhead map-like view",
        ]
        prompts = [
            f"{subject}: {framings[i % len(framings)]}, {style.value} style" for i in range(count)
        ]
        return ImagePrompts(prompts=prompts), self._call()

    def music_prompt(self, script, audience):
        mood = {
            Audience.kids: "playful, upbeat, light plucks",
            Audience.teens: "upbeat, energetic, modern pulse",
            Audience.general: "calm, warm, gentle pads",
            Audience.experts: "calm, ambient, thoughtful piano",
        }[audience]
        return f"{mood}, instrumental background for a film about {script.title}", self._call()

    def video_prompt(self, narration, *, style, from_image):
        subject = narration.on_screen_text or _fit_words(narration.narration, 6)
        if from_image:
            return (
                f"Animate the picture of {subject}: slow camera drift with parallax depth, "
                "gentle natural motion in the scene, no cuts",
                self._call(),
            )
        return (
            f"{subject}: one continuous shot, slow cinematic camera move, natural motion, "
            f"{style.value} style",
            self._call(),
        )


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible


class OpenAIChat(OpenAIConnection, LanguageModel):
    """Chat completions against OpenAI or any compatible server (set base_url for Ollama/vLLM)."""

    model: str = "gpt-4o-mini"
    temperature: float = 0.7
    price_per_million_input_tokens: float = 0.15
    price_per_million_output_tokens: float = 0.60

    def _json_call(self, system: str, user: str, shape: type[M]) -> tuple[M, ProducerCall]:
        with self._provider_errors(ProducerError, f"LLM call to {self.model}"):
            response = self._client().chat.completions.create(
                model=self.model,
                temperature=self.temperature,
                response_format={"type": "json_object"},
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            )
        content = response.choices[0].message.content or ""
        try:
            parsed = shape.model_validate(json.loads(content))
        except (json.JSONDecodeError, ValidationError) as error:
            raise ProducerError(
                f"LLM {self.model} returned JSON that does not match {shape.__name__}: {error}"
            ) from error
        usage = response.usage
        cost = 0.0
        tokens = None
        if usage is not None:
            tokens = usage.total_tokens
            cost = (
                usage.prompt_tokens * self.price_per_million_input_tokens
                + usage.completion_tokens * self.price_per_million_output_tokens
            ) / 1e6
        call = ProducerCall(
            provider="openai-chat", model=self.model, estimated_cost_usd=cost, tokens=tokens
        )
        return parsed, call

    def research(self, request, documents):
        system = prompts.RESEARCH_SYSTEM.format(
            fact_count=request.segment_count + 2,
            audience=request.audience.value,
            language=request.language.value,
        )
        docs = "\n\n".join(
            f"[document {i + 1}: {Path(path).name}]\n{text[:6000]}"
            for i, (path, text) in enumerate(documents)
        )
        user = f"Topic: {request.prompt}\n\n{docs}".strip()
        return self._json_call(system, user, Research)

    def write_script(self, request, research, keep):
        system = prompts.SCRIPT_SYSTEM.format(
            segments=request.segment_count,
            language=request.language.value,
            audience=request.audience.value,
            max_words=MAX_WORDS_PER_SEGMENT,
        )
        user = f"Prompt: {request.prompt}\nFacts:\n" + "\n".join(
            f"- {fact.text}" for fact in research.facts
        )
        if keep:
            kept_json = json.dumps([s.model_dump() for s in keep], ensure_ascii=False)
            user += "\n\n" + prompts.SCRIPT_CONTINUE.format(kept=len(keep), kept_json=kept_json)
        script, call = self._json_call(system, user, Script)
        # The model is asked to keep earlier segments; enforce it so their artifacts stay valid.
        segments = list(keep) + script.segments[len(keep) :]
        if len(segments) < request.segment_count:
            raise ProducerError(
                f"LLM {self.model} wrote {len(segments)} segments, "
                f"{request.segment_count} were asked for"
            )
        segments = [
            s.model_copy(update={"narration": _fit_words(s.narration, MAX_WORDS_PER_SEGMENT)})
            for s in segments[: request.segment_count]
        ]
        return script.model_copy(update={"segments": segments}), call

    def image_prompts(self, narration, *, style, count):
        system = prompts.IMAGE_PROMPTS_SYSTEM.format(count=count, style=style.value)
        user = f"Narration: {narration.narration}\nOn screen: {narration.on_screen_text}"
        result, call = self._json_call(system, user, ImagePrompts)
        if len(result.prompts) < count:
            raise ProducerError(f"LLM {self.model} wrote {len(result.prompts)} of {count} prompts")
        return ImagePrompts(prompts=result.prompts[:count]), call

    def music_prompt(self, script, audience):
        class MusicPrompt(BaseModel):
            prompt: str

        user = f"Film: {script.title}\nSummary: {script.summary}\nAudience: {audience.value}"
        result, call = self._json_call(prompts.MUSIC_PROMPT_SYSTEM, user, MusicPrompt)
        return result.prompt, call

    def video_prompt(self, narration, *, style, from_image):
        class VideoPromptText(BaseModel):
            prompt: str

        system = (prompts.IMAGE_TO_VIDEO_SYSTEM if from_image else prompts.TEXT_TO_VIDEO_SYSTEM)
        user = f"Narration: {narration.narration}\nOn screen: {narration.on_screen_text}"
        result, call = self._json_call(system.format(style=style.value), user, VideoPromptText)
        if not result.prompt.strip():
            raise ProducerError(f"LLM {self.model} wrote an empty video prompt")
        return result.prompt.strip(), call
