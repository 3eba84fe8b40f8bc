"""Pure conversions from the domain records (Turn + its Cost) to table rows, and the bounds a row
must respect before any database sees it (so a hostile span is rejected, never a 500)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.spans import Turn

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
# A turn with more tokens than this is garbage, not a bigger context window; the cap also keeps
# hourly sums far away from BIGINT overflow and costs inside Numeric(18, 9).
MAX_TOKENS_PER_TURN = 10**9
# The latest time a BIGINT nanosecond timestamp (and PostgreSQL) can hold is in 2262.
MAX_UNIX_NS = INT64_MAX

_TURN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Turn))
_LIST_FIELDS = ("fallback_hops", "dropped_capabilities", "tool_use_ids", "tool_use_names", "tool_result_ids",
               "tool_result_error_ids", "secret_findings")
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                 "cache_creation_1h_tokens", "estimated_input_tokens")
_INT32_FIELDS = ("status_code", "tool_count")
_FLOAT_FIELDS = ("propensity", "ttfb_ms")


@dataclass(frozen=True, slots=True)
class Pricing:
    """The price of one turn as stored: ``priced`` is False when no price was known (cost 0)."""

    cost_usd: Decimal
    priced: bool
    price_id: str | None = None
    exact: bool = True
    note: str | None = None


def ns_to_datetime(ns: int) -> datetime:
    """Naive UTC datetime (microsecond precision) for a unix-nanosecond timestamp."""
    return datetime.fromtimestamp(ns // 1000 / 1e6, UTC).replace(tzinfo=None)


def turn_problem(turn: Turn) -> str | None:
    """Why ``turn`` cannot be stored (values out of column range, NUL characters), or None."""
    if not 0 < turn.start_ns <= turn.end_ns <= MAX_UNIX_NS:
        return "start/end time missing or out of range"
    for name in _TOKEN_FIELDS:
        value = getattr(turn, name)
        if value is not None and not 0 <= value <= MAX_TOKENS_PER_TURN:
            return f"{name} out of range (0..{MAX_TOKENS_PER_TURN})"
    for name in _INT32_FIELDS:
        value = getattr(turn, name)
        if value is not None and not 0 <= value <= INT32_MAX:
            return f"{name} out of range"
    for name in _FLOAT_FIELDS:
        value = getattr(turn, name)
        if value is not None and not math.isfinite(value):
            return f"{name} must be a finite number"
    texts = _strings(turn)
    joined = "".join(texts)
    # PostgreSQL text cannot hold NUL; lone surrogates (possible from JSON) cannot be encoded.
    if "\x00" in joined:
        return "a string field contains a NUL character"
    if not joined.isascii():
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            return "a string field is not valid Unicode"
    return None


def _strings(turn: Turn) -> list[str]:
    texts: list[str] = []
    for name in _TURN_FIELDS:
        value = getattr(turn, name)
        if value.__class__ is str:
            texts.append(value)
        elif value.__class__ is tuple:
            texts.extend(value)
    return texts


def turn_row(turn: Turn, pricing: Pricing, ingested_at: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(turn, name) for name in _TURN_FIELDS}
    row["trace_id"] = turn.trace_id.hex()
    row["span_id"] = turn.span_id.hex()
    for name in _LIST_FIELDS:
        row[name] = list(row[name])
    row["started_at"] = ns_to_datetime(turn.start_ns)
    row["duration_ms"] = turn.duration_ms
    row["ok"] = turn.ok
    row["cost_usd"] = pricing.cost_usd
    row["priced"] = pricing.priced
    row["price_id"] = pricing.price_id
    row["cost_exact"] = pricing.exact
    row["cost_note"] = pricing.note
    row["ingested_at"] = ingested_at
    return row


def row_key(row: Mapping[str, Any]) -> tuple[str, str]:
    return row["trace_id"], row["span_id"]
