"""The arithmetic of one simulated turn: prompt-cache usage, cost (the one pricing function, as a float),
latency, and what the same turn would have cost with a warm cache and an ordinary answer (the
"counterfactual" behind the ground truth of cost outliers). Pure."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date

from core.price_memo import PriceMemo
from core.pricing import PriceTable, Usage

# Anthropic's 5-minute prompt-cache TTL: a gap longer than this means the prefix must be written again.
CACHE_TTL_S = 300.0
# Claude Code puts cache_control on the last block, so only a handful of tokens go uncached.
UNCACHED_TOKENS = 8
# Per-tier generation speed (ms per output token) and prefill multiplier.
MS_PER_OUTPUT_TOKEN = {"haiku": 6.0, "sonnet": 14.0, "opus": 22.0}
PREFILL_FACTOR = {"haiku": 0.6, "sonnet": 1.0, "opus": 1.5}


@dataclass(frozen=True, slots=True)
class CacheState:
    """What the prompt cache holds for a thread: the prefix length written last, for which model,
    and when."""

    tokens: int = 0
    model: str | None = None
    at_s: float = -math.inf


def input_usage(total: int, model: str, now_s: float, cache: CacheState, *, bust: bool) -> Usage:
    """Split ``total`` prompt tokens into uncached, cache-write and cache-read as the API would."""
    uncached = min(UNCACHED_TOKENS, total)
    warm = cache.model == model and now_s - cache.at_s <= CACHE_TTL_S and cache.tokens <= total
    read = cache.tokens if warm and not bust else 0
    return Usage(input_tokens=uncached, cache_creation_tokens=total - uncached - read, cache_read_tokens=read)


def counterfactual_usage(total: int, cache: CacheState, now_s: float, normal_output: int) -> Usage:
    """The same turn with the cache as warm as the thread allows (whatever the model: switching
    models mid-thread is what throws a warm cache away) and an ordinary answer length."""
    uncached = min(UNCACHED_TOKENS, total)
    fresh = now_s - cache.at_s <= CACHE_TTL_S and cache.tokens <= total
    read = cache.tokens if fresh else 0
    return Usage(input_tokens=uncached, cache_creation_tokens=total - uncached - read, cache_read_tokens=read,
                 output_tokens=normal_output)


def with_output(usage: Usage, output_tokens: int) -> Usage:
    return Usage(usage.input_tokens, output_tokens, usage.cache_creation_tokens, 0, usage.cache_read_tokens)


class Prices:
    """Float costs for the simulator: the stored Decimal of the one pricing function (core.pricing,
    through a PriceMemo: a fleet prices millions of turns over a few models and days), as a float."""

    def __init__(self, table: PriceTable) -> None:
        self._memo = PriceMemo(table)

    def cost_usd(self, model: str, usage: Usage, day: date) -> float:
        return float(self._memo.cost(model, usage, day).usd)


def normal_latency_ms(rng: random.Random, tier: str, total_tokens: int, output_tokens: int) -> tuple[float, float]:
    """(time to first byte, total duration) of an ordinary answer."""
    ttfb = (400.0 + 6.0 * total_tokens / 1000) * PREFILL_FACTOR[tier] * rng.lognormvariate(0.0, 0.2)
    generation = output_tokens * MS_PER_OUTPUT_TOKEN[tier] * rng.lognormvariate(0.0, 0.15)
    return ttfb, ttfb + generation


def stalled_latency_ms(rng: random.Random, tier: str, total_tokens: int, output_tokens: int) -> tuple[float, float]:
    """A turn stuck in a queue upstream: a long stall before the first byte, slow generation."""
    ttfb, duration = normal_latency_ms(rng, tier, total_tokens, output_tokens)
    stall = rng.uniform(90_000.0, 240_000.0)
    return ttfb + stall, stall + ttfb + 2.0 * (duration - ttfb)
