"""The two price tables of the generalisation suite: today's (core/prices.yaml) and a copy of it
whose tiers sit closer together, through the one pricing module (core.pricing): the same entries,
patterns and dates, each entry's input and output prices multiplied by its tier's factor. Used only
by the suite (bench/generalisation.py, its tests); never by a running service.

With ``NARROW_FACTORS`` today's haiku 4.5 / sonnet 4.5 / opus 4.5 at $1 / $3 / $5 per million input
tokens become $2 / $3 / $4: sonnet is 1.5× haiku instead of 3×, opus 1.33× sonnet instead of 1.67×.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from core.pricing import PriceTable, builtin_price_table

NARROW_FACTORS: Mapping[str, Decimal] = MappingProxyType(
    {"haiku": Decimal(2), "sonnet": Decimal(1), "opus": Decimal("0.8")})


def scaled_price_table(table: PriceTable, factors: Mapping[str, Decimal]) -> PriceTable:
    """``table`` with every entry's input and output prices times its tier's factor (1 when not given)."""
    return PriceTable(entry.model_copy(update={"input": entry.input * factors.get(entry.tier, Decimal(1)),
                                               "output": entry.output * factors.get(entry.tier, Decimal(1))})
                      for entry in table.entries)


def price_tables() -> dict[str, PriceTable]:
    """The suite's tables by name: ``today`` and ``narrow``."""
    today = builtin_price_table()
    return {"today": today, "narrow": scaled_price_table(today, NARROW_FACTORS)}
