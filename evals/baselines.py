"""Robust baselines of log(cost): median and MAD, which a few outliers cannot drag along (a mean and
standard deviation would absorb the very spikes they are meant to reveal)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

import polars as pl

from evals.protocol import CostBaseline

# MAD × 1.4826 estimates the standard deviation of normally distributed data.
MAD_TO_SIGMA = 1.4826
# Below this scale (in log units, ~±40 %) costs are "the same"; without a floor, a developer whose
# turns all cost nearly alike would have every ordinary wobble flagged.
DEFAULT_SCALE_FLOOR = 0.35


def log_costs(costs: Iterable[float]) -> list[float]:
    return [math.log(cost) for cost in costs if cost > 0]


def robust_baseline(log_values: list[float], floor: float = DEFAULT_SCALE_FLOOR) -> CostBaseline | None:
    if not log_values:
        return None
    median = statistics.median(log_values)
    mad = statistics.median(abs(value - median) for value in log_values)
    return CostBaseline(median=median, scale=max(MAD_TO_SIGMA * mad, floor), count=len(log_values))


def developer_baselines(costs: pl.DataFrame, floor: float = DEFAULT_SCALE_FLOOR
                        ) -> dict[tuple[str, str], CostBaseline]:
    """Baselines per (developer, model) from a frame with ``developer``, ``model`` and ``cost_usd``."""
    keys = ["developer", "model"]
    frame = (
        costs.select(*keys, pl.col("cost_usd").cast(pl.Float64))
        .filter(pl.col("developer").is_not_null() & pl.col("model").is_not_null() & (pl.col("cost_usd") > 0))
        .with_columns(pl.col("cost_usd").log().alias("x"))
    )
    if frame.is_empty():
        return {}
    stats = (
        frame.with_columns(pl.col("x").median().over(keys).alias("median"))
        .group_by(keys)
        .agg(pl.col("median").first(), (pl.col("x") - pl.col("median")).abs().median().alias("mad"), pl.len())
    )
    return {
        (row["developer"], row["model"]): CostBaseline(row["median"], max(MAD_TO_SIGMA * row["mad"], floor), row["len"])
        for row in stats.iter_rows(named=True)
    }
