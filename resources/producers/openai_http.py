"""What every producer that calls an OpenAI-compatible API shares: the connection settings, the
client made from them, and failures that carry the provider's own words but never the key.

The chat, speech and image producers mix `OpenAIConnection` in before their interface class.
The `openai` package is imported only when a call runs: it is slow to import and optional
offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from resources.domain.errors import ProviderError
from resources.runtime.secrets import known_secrets, redact

if TYPE_CHECKING:
    import openai


class OpenAIConnection(dg.ConfigurableResource):
    """Where an OpenAI-compatible producer sends its calls (set base_url for Ollama or vLLM)."""

    # Kept out of repr and model_dump (which callers use in cache keys and metadata).
    api_key: str = Field(repr=False, exclude=True, description='pass dg.EnvVar("OPENAI_API_KEY")')
    base_url: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 2  # the client's own retries (backoff, honours Retry-After)

    def _client(self) -> openai.OpenAI:
        import openai

        return openai.OpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
        )

    @contextmanager
    def _provider_errors(self, error_type: type[ProviderError], call: str) -> Iterator[None]:
        """Re-raise the client's errors inside the block as `error_type`, named after `call`.

        The original is not chained: it holds the request, headers (and so the key) included.
        """
        import openai

        try:
            yield
        except openai.APIStatusError as error:
            raise error_type(
                self._scrub(f"{call} failed (HTTP {error.status_code}): {provider_message(error)}"),
                status=error.status_code,
            ) from None
        except openai.OpenAIError as error:  # connection errors, timeouts
            where = self.base_url or "api.openai.com"
            raise error_type(self._scrub(f"{call} at {where} failed: {error}")) from None

    def _scrub(self, message: str) -> str:
        # Belt and braces: the key never travels on in an exception or a log, even one given in
        # config rather than the environment; masked like every other secret the project hides.
        return redact(message, [self.api_key, *known_secrets()] if self.api_key else None)


def provider_message(error: openai.APIStatusError) -> str:
    """The human message inside an OpenAI-style error body, else the raw body."""
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    try:
        text = error.response.text
    except Exception:  # best effort; fall back to the SDK's message
        text = ""
    return text.strip()[:500] or error.message
