"""The per-segment evidence of a proposal as a table whose columns come from the data: whatever
figures the optimizer stores for each segment (turns, sessions, Δ cost, Δ quality with its interval,
effective sample size, or anything it adds later) become columns, in the order it stores them, with
readable headers for the known ones. A new segment is a new row and a new figure a new column,
without a change here. Pure.

Accepted shapes of ``evidence["segments"]``: a list of mappings (one per segment, named by a
``segment``, ``name`` or ``label`` key), or a mapping of segment name → mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LABEL_KEYS = ("segment", "name", "label")
HEADERS = {
    "turns": "turns", "sessions": "sessions", "delta_monthly_cost_usd": "Δ cost / month",
    "monthly_cost_usd": "cost / month", "delta_cost_share": "Δ cost", "delta_quality": "Δ quality (interval)",
    "ess": "effective sample (turns)", "ess_sessions": "effective sample (sessions)",
}
MAX_ROWS = 200  # a table a person reads; the evidence is the optimizer's, but the page stays bounded


def header(key: str) -> str:
    return HEADERS.get(key, key.replace("_", " "))


def _signed(value: float, text: str) -> str:
    return ("−" if value < 0 else "+") + text


def cell(key: str, value: Any) -> str:
    """One figure as text: an interval {value, low, high} as ``+0.0021 (−0.0009 … +0.0052)``, money
    by a ``usd`` key, shares by a ``share`` key, counts grouped."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        if isinstance(value.get("value"), int | float):
            point = cell(key, value["value"])
            if isinstance(value.get("low"), int | float) and isinstance(value.get("high"), int | float):
                return f"{point} ({cell(key, value['low'])} … {cell(key, value['high'])})"
            return point
        return "; ".join(f"{header(str(k))} {cell(str(k), v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(cell(key, item) for item in value)
    if isinstance(value, int | float):
        delta = key.startswith("delta")
        if "usd" in key:
            text = f"${abs(value):,.2f}"
            return _signed(value, text) if delta else ("−" if value < 0 else "") + text
        if "share" in key:
            return _signed(value, f"{abs(value):.1%}") if delta else f"{value:.1%}"
        if isinstance(value, int) or key in ("ess", "ess_sessions") or float(value).is_integer():
            return f"{value:,.0f}"
        return _signed(value, f"{abs(value):.4f}") if delta or "quality" in key else f"{value:,.4g}"
    return str(value)


def _rows_of(segments: object) -> list[Mapping[str, Any]]:
    if isinstance(segments, Mapping):
        return [{"segment": str(name), **(figures if isinstance(figures, Mapping) else {"value": figures})}
                for name, figures in segments.items()]
    if isinstance(segments, list):
        return [row for row in segments if isinstance(row, Mapping)]
    return []


def segment_table(evidence: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(columns, rows) for a grid: columns as {"field", "headerName"} (fields are ``c0``, ``c1``…, so a
    key with a dot cannot be read as a nested path), rows of text. Empty without segment evidence."""
    rows = _rows_of(evidence.get("segments"))[:MAX_ROWS]
    if not rows:
        return [], []
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(str(k) for k in row))
    label = next((k for k in LABEL_KEYS if k in keys), None)
    ordered = ([label] if label else []) + [k for k in keys if k != label]
    fields = {key: f"c{index}" for index, key in enumerate(ordered)}
    columns = [{"field": fields[key], "headerName": header(key) if key != label else "segment"} for key in ordered]
    table = [{fields[key]: cell(key, row.get(key)) for key in ordered} for row in rows]
    return columns, table
