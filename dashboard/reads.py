"""The dashboard's reads of raw turns, sessions and failure clusters (the aggregate pages read the
hourly rollup through store.queries instead). Each returns a polars frame with a fixed schema.

Every read here is bounded: by a time window that an index on ``started_at`` narrows, by a
``LIMIT`` on the newest rows, or by one session id (indexed), so pages stay fast as turns grow.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, Text, cast, select
from sqlalchemy.sql.elements import ColumnElement

from store.frames import schema_of, to_frame
from store.schema import failure_clusters, turns

# The columns a routing decision is explained from (see dashboard.decision), plus what a list shows.
DECISION_COLUMNS = ("trace_id", "span_id", "started_at", "session_id", "developer", "repo", "requested_model",
                    "served_model", "target", "rule", "policy_version", "estimated_input_tokens", "fallback_hops",
                    "status_code", "ok", "error_type", "ttfb_ms", "cost_usd")
CLUSTER_SCHEMA = {"run_id": pl.String(), "cluster": pl.Int64(), "created_at": pl.Datetime("us"),
                  "name": pl.String(), "size": pl.Int64(), "cost_usd": pl.Float64(), "trend": pl.String(),
                  "window_counts": pl.List(pl.Int64()), "features": pl.String(), "examples": pl.List(pl.String())}


def fell_back() -> ColumnElement[bool]:
    # An empty hop list is stored as "[]" on SQLite (JSON text) and PostgreSQL (jsonb::text) alike.
    return cast(turns.c.fallback_hops, Text) != "[]"


# The rollup has no latency or fallback columns, so these come from the turns themselves; a
# busy day can hold 50 000+ turns, so the read stops at the newest HEALTH_SAMPLE of them.
HEALTH_SAMPLE = 20_000


def turn_health(engine: Engine, start: datetime, *, limit: int = HEALTH_SAMPLE) -> pl.DataFrame:
    """(started_at, ttfb_ms, ok, fell_back) of the newest ``limit`` turns since ``start``."""
    # start_ns rather than started_at: SQLite hands datetimes back as text that SQLAlchemy parses
    # one by one; polars converts the integers in one go.
    query = (select(turns.c.start_ns, turns.c.ttfb_ms, turns.c.ok, fell_back()).where(turns.c.started_at >= start)
             .order_by(turns.c.started_at.desc()).limit(limit))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pl.DataFrame(rows, orient="row", schema={"start_ns": pl.Int64(), "ttfb_ms": pl.Float64(),
                                                     "ok": pl.Boolean(), "fell_back": pl.Boolean()})
    return frame.select(pl.from_epoch("start_ns", "ns").dt.cast_time_unit("us").alias("started_at"),
                        "ttfb_ms", "ok", "fell_back")


def fallback_chains(engine: Engine, start: datetime, *, limit: int = HEALTH_SAMPLE) -> pl.DataFrame:
    """(chain, turns) of the turns that walked a fallback chain among the newest ``limit`` turns
    since ``start``, commonest first."""
    # Filtering in SQL would still visit every turn of the window (the hops are not indexed);
    # bounding the window by count keeps the read as cheap as turn_health's.
    query = (select(cast(turns.c.fallback_hops, Text)).where(turns.c.started_at >= start)
             .order_by(turns.c.started_at.desc()).limit(limit))
    with engine.connect() as connection:
        texts = [text for (text,) in connection.execute(query) if text != "[]"]
    chains = [" → ".join(_hops(text)) for text in texts]
    frame = pl.DataFrame({"chain": chains}, schema={"chain": pl.String()})
    return frame.group_by("chain").len("turns").sort(["turns", "chain"], descending=[True, False])


def _hops(value: Any) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value or ())


def recent_turns(engine: Engine, *, limit: int = 200, only_fallbacks: bool = False) -> pl.DataFrame:
    """The newest ``limit`` turns (newest first) with the fields their decision is explained from."""
    columns = [turns.c[name] for name in DECISION_COLUMNS]
    query = select(*columns).order_by(turns.c.started_at.desc(), turns.c.trace_id, turns.c.span_id).limit(limit)
    if only_fallbacks:
        query = query.where(fell_back())
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return to_frame(rows, schema_of(columns))


def one_turn(engine: Engine, trace_id: str, span_id: str) -> dict[str, Any] | None:
    query = select(*turns.c).where(turns.c.trace_id == trace_id, turns.c.span_id == span_id)
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else dict(row._mapping)


def recent_sessions(engine: Engine, *, scan: int = 5_000, limit: int = 200) -> pl.DataFrame:
    """Sessions among the newest ``scan`` turns, most recently active first: (session_id, developer,
    repo, turns, cost_usd, first_at, last_at). Counts cover those turns only; the session page
    itself reads every turn of the one session it shows."""
    columns = [turns.c.session_id, turns.c.developer, turns.c.repo, turns.c.started_at, turns.c.cost_usd]
    query = (select(*columns).where(turns.c.session_id.is_not(None))
             .order_by(turns.c.started_at.desc()).limit(scan))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = to_frame(rows, schema_of(columns))
    return (frame.group_by("session_id")
            .agg(pl.col("developer").drop_nulls().first(), pl.col("repo").drop_nulls().first(),
                 pl.len().alias("turns"), pl.col("cost_usd").sum(),
                 pl.col("started_at").min().alias("first_at"), pl.col("started_at").max().alias("last_at"))
            .sort(["last_at", "session_id"], descending=[True, False]).head(limit))


def latest_clusters(engine: Engine) -> pl.DataFrame:
    """The failure clusters of the newest clustering run, largest first (empty before any run)."""
    newest = (select(failure_clusters.c.run_id)
              .order_by(failure_clusters.c.created_at.desc(), failure_clusters.c.run_id.desc()).limit(1)
              .scalar_subquery())
    columns = [failure_clusters.c[name] for name in CLUSTER_SCHEMA]
    query = (select(*columns).where(failure_clusters.c.run_id == newest)
             .order_by(failure_clusters.c.size.desc(), failure_clusters.c.cluster))
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        row["features"] = json.dumps(row["features"], sort_keys=True)
        row["cost_usd"] = float(row["cost_usd"])
    return pl.DataFrame(rows, schema=CLUSTER_SCHEMA, orient="row")
