"""What a turn *should* have cost for the tokens it sent: the price of its prompt with the prefix
its thread's previous answered turn left in the prompt cache read back (when that turn was less
than the cache TTL ago), only the new part written, and an ordinary answer length. The ratio of
actual to expected cost separates "expensive because big" from "expensive because wasteful"
(a cache miss on a long context, a runaway answer). Pure; prices come from the price table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from core.pricing import PriceTable
from core.spans import Turn

# Anthropic's default (5-minute) prompt-cache TTL: a longer gap legitimately means a full rewrite.
CACHE_TTL_NS = 300 * 10**9


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token (floats: this runs for every turn, Decimal would dominate the run time)."""

    input: float
    output: float
    cache_write: float
    cache_read: float


class RateLookup:
    def __init__(self, prices: PriceTable) -> None:
        self._prices = prices
        self._known: dict[tuple[str, date], Rates | None] = {}

    def __call__(self, model: str | None, start_ns: int) -> Rates | None:
        if not model:
            return None
        day = datetime.fromtimestamp(start_ns / 1e9, UTC).date()
        key = (model, day)
        if key not in self._known:
            entry = self._prices.lookup(model, day)
            self._known[key] = None if entry is None else Rates(
                float(entry.input) / 1e6, float(entry.output) / 1e6,
                float(entry.input * entry.cache_write_5m) / 1e6, float(entry.input * entry.cache_read) / 1e6)
        return self._known[key]


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


def expected_cost(turn: Turn, warm_tokens: int, output_tokens: float, rates: Rates) -> float:
    total = turn.total_input_tokens
    uncached = min(turn.input_tokens, total - warm_tokens)
    written = total - warm_tokens - uncached
    return (uncached * rates.input + written * rates.cache_write + warm_tokens * rates.cache_read
            + output_tokens * rates.output)
