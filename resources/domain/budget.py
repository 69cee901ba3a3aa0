"""Budgets in USD: per batch run and per day, checked before a movie starts (against the estimated
cost of its planned provider calls) and after every level (against the ledger, what was spent).

Estimates use the prices the paid producers declare (price_per_image_usd, ...). Offline producers
declare none and cost nothing. An estimate is an upper bound: a call whose result is already in
the store is answered from it for free.
"""

from __future__ import annotations

import datetime
import time
import zoneinfo
from collections.abc import Mapping

from pydantic import BaseModel, Field

from resources.storage.ledger import read_calls

# Which producer role each generating asset calls, once per partition it builds.
ASSET_ROLES = {
    "research": "llm",
    "script": "llm",
    "music_prompt": "llm",
    "image_prompts": "llm",
    "narration_audio": "tts",
    "shot_image": "images",
    "music_track": "music",
}
# A generous size of one LLM call (prompt, answer) in tokens, and of one segment's narration.
LLM_TOKENS_PER_CALL = (3000, 1500)
NARRATION_CHARS_PER_SEGMENT = 200


def call_price_usd(role: str, producer: object) -> float:
    """What one call of `producer` in `role` costs at most, from the prices it declares."""
    if role == "images":
        return float(getattr(producer, "price_per_image_usd", 0.0))
    if role == "tts":
        per_million = float(getattr(producer, "price_per_million_chars", 0.0))
        return per_million * NARRATION_CHARS_PER_SEGMENT / 1e6
    if role == "llm":
        tokens_in, tokens_out = LLM_TOKENS_PER_CALL
        price_in = float(getattr(producer, "price_per_million_input_tokens", 0.0))
        price_out = float(getattr(producer, "price_per_million_output_tokens", 0.0))
        return (tokens_in * price_in + tokens_out * price_out) / 1e6
    return 0.0


def estimate_usd(
    pending: Mapping[str, Mapping[str, str]], producers: Mapping[str, object]
) -> float:
    """The most the planned calls can cost: {asset: {partition: why}} as pending_work gives it."""
    total = 0.0
    for asset, partitions in pending.items():
        role = ASSET_ROLES.get(asset)
        if role is not None and role in producers:
            total += len(partitions) * call_price_usd(role, producers[role])
    return total


def spent_usd(since: float, movies: set[str] | None = None) -> float:
    """What the ledger recorded since `since` (epoch seconds), for `movies` or for all."""
    return sum(
        call["estimated_cost_usd"]
        for call in read_calls()
        if call["time"] >= since and (movies is None or call["movie"] in movies)
    )


def day_start(timezone: str) -> float:
    """Epoch seconds of the last midnight in `timezone`: the daily budget's period."""
    now = datetime.datetime.now(zoneinfo.ZoneInfo(timezone))
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class Budget(BaseModel):
    """The limits one batch run works under; None means no limit."""

    batch_usd: float | None = Field(default=None, gt=0)
    daily_usd: float | None = Field(default=None, gt=0)
    timezone: str = "UTC"
    started: float = Field(default_factory=time.time)

    def refusal(self, estimate: float, movies: set[str]) -> str | None:
        """Why spending `estimate` more now would break a limit, or None if it fits. With
        estimate 0 it says whether a limit is already broken by what the ledger recorded."""
        if self.batch_usd is not None:
            spent = spent_usd(self.started, movies)
            if spent + estimate > self.batch_usd + 1e-9:
                return _over("batch", estimate, spent, self.batch_usd)
        if self.daily_usd is not None:
            spent = spent_usd(day_start(self.timezone))
            if spent + estimate > self.daily_usd + 1e-9:
                return _over("daily", estimate, spent, self.daily_usd)
        return None


def _over(which: str, estimate: float, spent: float, limit: float) -> str:
    if estimate:
        return (
            f"over the {which} budget: its planned calls may cost ${estimate:.4f}, "
            f"${spent:.4f} of ${limit:.2f} is spent"
        )
    return f"over the {which} budget: ${spent:.4f} of ${limit:.2f} is spent"
