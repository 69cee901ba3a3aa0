"""The one error type producers raise when their provider fails."""

from __future__ import annotations


class ProviderError(RuntimeError):
    """A provider call failed. The message carries the provider's own words, never secrets.

    `status` is the HTTP status when there was one. Client errors (4xx but 408/429) will fail
    the same way again, so they are not retried; everything else may be transient.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status >= 500 or self.status in (408, 429)
