"""What routing saved: each day's actual cost next to what the same tokens would have cost had
every turn run on the baseline (top-tier) model, priced by the one pricing function
(core.pricing.PriceTable.cost) at that day's prices.

Pure. The rollup does not split cache writes by TTL, so the baseline prices every cache write at
the 5-minute rate; turns on models the price table cannot place are left out of both sides (their
actual cost is unknown, so no saving can be claimed for them).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl

from core.pricing import PriceTable, Usage

TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
SAVINGS_SCHEMA = {"day": pl.Date(), "actual_usd": pl.Decimal(38, 9), "baseline_usd": pl.Decimal(38, 9)}


def savings_by_day(usage: pl.DataFrame, prices: PriceTable, baseline_model: str) -> pl.DataFrame:
    """``usage``: rollup sums by (hour, model) → (day, actual_usd, baseline_usd), oldest first."""
    if usage.is_empty():
        return pl.DataFrame(schema=SAVINGS_SCHEMA)
    per_model = (usage.with_columns(pl.col("hour").dt.date().alias("day"))
                 .group_by("day", "model")
                 .agg(*(pl.col(name).sum() for name in TOKEN_COLUMNS), pl.col("cost_usd").sum())
                 .sort("day", "model"))
    totals: dict[date, list[Decimal]] = {}
    for row in per_model.iter_rows(named=True):
        day, model = row["day"], row["model"]
        usage_of_day = Usage(input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
                             cache_creation_tokens=row["cache_write_tokens"],
                             cache_read_tokens=row["cache_read_tokens"])
        baseline = prices.cost(baseline_model, usage_of_day, day)
        if not baseline.priced or not prices.verdict(model, day).entry:
            continue
        pair = totals.setdefault(day, [Decimal(0), Decimal(0)])
        pair[0] += Decimal(row["cost_usd"])
        pair[1] += baseline.usd
    rows = [(day, actual, baseline) for day, (actual, baseline) in sorted(totals.items())]
    return pl.DataFrame(rows, schema=SAVINGS_SCHEMA, orient="row")


def total_savings(by_day: pl.DataFrame) -> tuple[Decimal, Decimal]:
    """(baseline − actual, baseline) over all days: the saving and what it is a share of."""
    actual = Decimal(by_day["actual_usd"].sum() or 0)
    baseline = Decimal(by_day["baseline_usd"].sum() or 0)
    return baseline - actual, baseline
