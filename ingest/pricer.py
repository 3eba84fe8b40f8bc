"""Prices turns for the store with the one pricing function (core.pricing), at the date of each
turn; the (model, day) lookups are remembered by a core PriceMemo (bounded)."""

from __future__ import annotations

from core.price_memo import PriceMemo
from core.pricing import PriceTable
from core.spans import Turn
from store.rows import Pricing


class Pricer:
    def __init__(self, prices: PriceTable) -> None:
        self._memo = PriceMemo(prices)

    def price(self, turn: Turn) -> Pricing:
        """The turn's stored price; raises core.pricing.UsageError for inconsistent token counts
        (the pipeline rejects that span with the reason)."""
        cost = self._memo.cost_of_turn(turn)
        return Pricing(cost.usd, priced=cost.priced, price_id=cost.price_id, exact=cost.exact, note=cost.note)
