"""Reads of what the egress secret guardrail recorded on turns (issue 21): the turns it touched
(``turns.guardrail`` is set only then) and their findings, one row each. Never the secret: the
store holds only each finding's rule, place, line, offset and salted fingerprint.

Every read is bounded by time (the ``ix_turns_guardrail_started_at`` index serves the guardrail
outcome and the window together) and by a row limit on the newest turns.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, select

from core.secrets.verdict import parse_finding
from store.schema import turns

OUTCOMES = ("flagged", "blocked", "allowed", "unscanned", "failed_open", "failed_closed")
TURN_LIMIT = 20_000
FINDING_SCHEMA = {
    "started_at": pl.Datetime("us"), "trace_id": pl.String(), "span_id": pl.String(), "session_id": pl.String(),
    "developer": pl.String(), "team": pl.String(), "repo": pl.String(), "outcome": pl.String(),
    "rule": pl.String(), "message": pl.Int64(), "block": pl.Int64(), "part": pl.Int64(), "kind": pl.String(),
    "line": pl.Int64(), "fingerprint": pl.String(), "repeat": pl.Boolean(), "allowed": pl.String(),
}
_COLUMNS = ("started_at", "trace_id", "span_id", "session_id", "developer", "team", "repo", "guardrail",
            "secret_findings")


def guardrail_turns(engine: Engine, start: datetime, end: datetime | None = None, *,
                    outcomes: tuple[str, ...] = OUTCOMES, limit: int = TURN_LIMIT) -> list[dict[str, Any]]:
    """The newest ``limit`` turns since ``start`` (before ``end``) the guardrail touched with one of
    ``outcomes``, newest first, as dicts with the findings decoded (a list of dicts)."""
    query = select(*(turns.c[name] for name in _COLUMNS)).where(
        turns.c.guardrail.in_(outcomes), turns.c.started_at >= start)
    if end is not None:
        query = query.where(turns.c.started_at < end)
    query = query.order_by(turns.c.started_at.desc()).limit(limit)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        row["outcome"] = row.pop("guardrail")
        row["findings"] = _findings(row.pop("secret_findings"))
    return rows


def _findings(value: Any) -> list[dict[str, Any]]:
    items = json.loads(value) if isinstance(value, str) else value or []
    if not isinstance(items, list):
        return []
    return [found for item in items if isinstance(item, str) and (found := parse_finding(item)) is not None]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def finding_rows(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per finding of ``rows`` (from guardrail_turns), with its turn's who and when."""
    records = []
    for row in rows:
        for finding in row["findings"]:
            fingerprint, allowed = finding.get("fingerprint"), finding.get("allowed")
            records.append({
                **{name: row[name] for name in ("started_at", "trace_id", "span_id", "session_id", "developer",
                                                "team", "repo", "outcome")},
                "rule": finding["rule"], "message": _int(finding.get("message")), "block": _int(finding.get("block")),
                "part": _int(finding.get("part")), "kind": str(finding.get("kind") or ""),
                "line": _int(finding.get("line")), "fingerprint": fingerprint if isinstance(fingerprint, str) else "",
                "repeat": finding.get("repeat") is True, "allowed": allowed if isinstance(allowed, str) else None,
            })
    return pl.DataFrame(records, schema=FINDING_SCHEMA)
