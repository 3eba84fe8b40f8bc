"""Hourly rollup deltas from newly inserted turn rows (pure), folded into rollup_hourly by the writer
in the same transaction as the insert, so the rollup always equals an aggregate over turns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

RollupKey = tuple[datetime, str, str, str, str, str, str]


def rollup_key(row: Mapping[str, Any]) -> RollupKey:
    """(hour, developer, team, repo, model, target, rule); unknown values are ''."""
    hour = row["started_at"].replace(minute=0, second=0, microsecond=0)
    model = row["served_model"] or row["requested_model"] or ""
    return (hour, row["developer"] or "", row["team"] or "", row["repo"] or "", model,
            row["target"] or "", row["rule"] or "")


def rollup_deltas(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One rollup row per key, summing ``rows``; sorted by key so concurrent writers on PostgreSQL
    lock rollup rows in the same order (no deadlocks)."""
    sums: dict[RollupKey, list[Any]] = {}
    for row in rows:
        key = rollup_key(row)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = [0, 0, 0, 0, 0, 0, 0, Decimal(0)]
        acc[0] += 1
        acc[1] += 0 if row["ok"] else 1
        acc[2] += 0 if row["priced"] else 1
        acc[3] += row["input_tokens"]
        acc[4] += row["output_tokens"]
        acc[5] += row["cache_creation_tokens"]
        acc[6] += row["cache_read_tokens"]
        acc[7] += row["cost_usd"]
    return [
        {
            "hour": key[0], "developer": key[1], "team": key[2], "repo": key[3], "model": key[4],
            "target": key[5], "rule": key[6],
            "requests": acc[0], "errors": acc[1], "unpriced": acc[2], "input_tokens": acc[3],
            "output_tokens": acc[4], "cache_write_tokens": acc[5], "cache_read_tokens": acc[6],
            "cost_usd": acc[7],
        }
        for key, acc in sorted(sums.items(), key=lambda item: item[0])
    ]
