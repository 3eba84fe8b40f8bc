"""Budget reservations: what a turn holds against its budgets while it runs, and which budgets can
still admit one. Pure arithmetic; the proxy's ledger (and Redis, across proxies) keeps the holds.

A turn is admitted while, for every ``block`` budget that applies to it,

    spent + reserved in flight  <  hard limit

and on admission it reserves its worst-case cost (:func:`worst_case_usd`) against each of its
principals; when it ends the reservation is replaced by its real cost (or dropped, on an error).
The check and the reservation are one step (synchronous in one proxy, one Lua script on Redis), so
however many turns arrive at once, the last one admitted saw every earlier one's reservation: spend
ends at most one reservation past the hard limit, as long as each turn costs no more than it
reserved. The worst case prices the input estimate at the dearest input kind (1-hour cache writes,
twice the input price in the built-in table) so a turn that writes its whole prompt to the cache
still fits; the cap (a setting) bounds one turn's reservation, and so the overshoot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal

from core.pricing import Usage

from .budgets import ZERO, SpendKey, blocking_limits

__all__ = ["admits", "blocking_limits", "committed", "worst_case_usages", "worst_case_usd"]
Key = SpendKey
PriceOf = Callable[[str | None, Usage], Decimal]


def worst_case_usages(input_tokens: int, max_tokens: int) -> tuple[Usage, Usage]:
    """The two usages whose dearer price bounds a turn's cost: the estimated input as plain input or
    as 1-hour cache writes (which of the two costs more is the price table's business), plus
    ``max_tokens`` of output."""
    tokens, output = max(input_tokens, 0), max(max_tokens, 0)
    return (Usage(input_tokens=tokens, output_tokens=output),
            Usage(cache_creation_tokens=tokens, cache_creation_1h_tokens=tokens, output_tokens=output))


def worst_case_usd(models: Iterable[str | None], input_tokens: int, max_tokens: int | None, price: PriceOf,
                   cap: Decimal) -> Decimal:
    """A turn's reservation: the dearest of ``models`` (the targets its chain may use) at its worst
    usage, never more than ``cap``. Without ``max_tokens`` (the API refuses such a request, but it
    is the client's to send) the output is unbounded, so the reservation is the cap."""
    if max_tokens is None:
        return cap
    usages = worst_case_usages(input_tokens, max_tokens)
    worst = max((price(model, usage) for model in set(models) for usage in usages), default=ZERO)
    return min(worst, cap)


def admits(limits: Mapping[Key, Decimal], committed: Mapping[Key, Decimal]) -> bool:
    """Whether every blocking budget still has headroom: committed (spent + reserved in flight)
    strictly below its hard limit. The same comparison the Redis script makes."""
    return all(committed.get(key, ZERO) < limit for key, limit in limits.items())


def committed(keys: Iterable[Key], spent: Mapping[Key, Decimal], reserved: Mapping[Key, Decimal]
              ) -> dict[Key, Decimal]:
    """Spent plus reserved in flight, for the turn's principals: what a budget verdict is made on."""
    return {key: spent.get(key, ZERO) + reserved.get(key, ZERO) for key in keys}
