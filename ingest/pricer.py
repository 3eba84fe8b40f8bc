"""Prices turns with the shared price table, at the date of each turn.

Looking a model up in the table is a scan over its patterns; a batch repeats a handful of
(model, day) pairs, so the entry found for each pair is remembered per Pricer (bounded).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from core.pricing import Cost, PriceEntry, PriceTable, Usage
from core.spans import Turn
from store.rows import Pricing

NANO_DOLLAR = Decimal("1e-9")  # the stored precision: Numeric(18, 9)
_CACHE_LIMIT = 4096


class Pricer:
    def __init__(self, table: PriceTable) -> None:
        self._table = table
        self._known: dict[tuple[str | None, date], tuple[PriceEntry | None, Cost]] = {}

    def _lookup(self, model: str | None, day: date) -> tuple[PriceEntry | None, Cost]:
        key = (model, day)
        found = self._known.get(key)
        if found is None:
            # cost() of empty usage carries the verdict (priced? exact? why not?) for this pair
            template = self._table.cost(model, Usage(), day)
            entry = self._table.lookup(model, day) if model and template.priced else None
            if len(self._known) >= _CACHE_LIMIT:
                self._known.clear()
            found = self._known[key] = (entry, template)
        return found

    def price(self, turn: Turn) -> Pricing:
        day = datetime.fromtimestamp(turn.start_ns / 1e9, UTC).date()
        entry, template = self._lookup(turn.served_model or turn.requested_model, day)
        if entry is None:
            return Pricing(Decimal(0), priced=False, price_id=None, exact=False, note=template.reason)
        usage = Usage(
            input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            cache_creation_tokens=turn.cache_creation_tokens,
            cache_creation_1h_tokens=turn.cache_creation_1h_tokens,
            cache_read_tokens=turn.cache_read_tokens,
        )
        usd = entry.cost_of(usage).quantize(NANO_DOLLAR, rounding=ROUND_HALF_EVEN)
        return Pricing(usd, priced=True, price_id=template.price_id, exact=template.exact, note=template.reason)
