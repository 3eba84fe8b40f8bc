"""What a turn *should* have cost for the tokens it sent: the price of its prompt with the prefix
its thread's previous answered turn left in the prompt cache read back (when that turn was less
than the cache TTL ago), only the new part written, and an ordinary answer length. The ratio of
actual to expected cost separates "expensive because big" from "expensive because wasteful"
(a cache miss on a long context, a runaway answer). Pure; the per-token rates come from the one
pricing function (core.pricing, through the PriceMemo: the cost of a million tokens of each kind)."""

from __future__ import annotations

from core.price_memo import PerToken, PriceMemo, turn_day
from core.spans import Turn

# Anthropic's default (5-minute) prompt-cache TTL: a longer gap legitimately means a full rewrite.
CACHE_TTL_NS = 300 * 10**9


class RateLookup:
    """USD per token for a model on the day a turn started, None when unpriced (floats: this runs
    for every turn, Decimal would dominate the run time)."""

    def __init__(self, prices: PriceMemo) -> None:
        self._prices = prices

    def __call__(self, model: str | None, start_ns: int) -> PerToken | None:
        return self._prices.per_token(model, turn_day(start_ns))


def answered(turn: Turn) -> bool:
    return turn.ok and turn.total_input_tokens > 0


def warm_prefix(turns: tuple[Turn, ...], index: int) -> int:
    """Prompt tokens the cache could still hold for ``turns[index]``: the prompt of the thread's
    last answered turn before it, when that ended within the TTL and is a prefix-sized part."""
    turn = turns[index]
    for earlier in reversed(turns[:index]):
        if answered(earlier):
            fresh = turn.start_ns - earlier.end_ns <= CACHE_TTL_NS
            fits = earlier.total_input_tokens <= turn.total_input_tokens
            return earlier.total_input_tokens if fresh and fits else 0
    return 0


def expected_cost(turn: Turn, warm_tokens: int, output_tokens: float, rates: PerToken) -> float:
    total = turn.total_input_tokens
    uncached = min(turn.input_tokens, total - warm_tokens)
    written = total - warm_tokens - uncached
    return (uncached * rates.input + written * rates.cache_write_5m + warm_tokens * rates.cache_read
            + output_tokens * rates.output)
