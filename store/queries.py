"""Read queries returning polars DataFrames: turns in a time range, hourly rollups by a grouping,
Claude Code log events, and per-session summaries joining the two by session id.

Time bounds are naive UTC datetimes, start inclusive, end exclusive; None means unbounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, Select, case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from store.frames import schema_of, to_frame
from store.schema import ROLLUP_KEYS, ROLLUP_SUMS, logs, rollup_hourly, turns

# Filters accepted by turns_frame / rollup_frame; "model" means served model, else requested model.
FILTERABLE = ("developer", "team", "repo", "model", "target", "rule")


class UnknownColumnError(ValueError):
    """A grouping or filter names a column that does not exist."""


def turns_frame(
    engine: Engine,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    session_id: str | None = None,
    limit: int | None = None,
    **filters: str,
) -> pl.DataFrame:
    """Turns started in [start, end), oldest first, filtered by equality on FILTERABLE columns."""
    query = select(*turns.c).order_by(turns.c.started_at, turns.c.trace_id, turns.c.span_id)
    query = between(query, turns.c.started_at, start, end)
    if session_id is not None:
        query = query.where(turns.c.session_id == session_id)
    for name, value in filters.items():
        query = query.where(_turn_column(name) == value)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return to_frame(rows, schema_of(list(turns.c)))


def rollup_frame(
    engine: Engine,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    by: Sequence[str] = ("hour",),
    **filters: str,
) -> pl.DataFrame:
    """Hourly rollups whose hour starts in [start, end), summed per ``by`` (a subset of hour,
    developer, team, repo, model, target, rule). Unknown grouping values come back as null."""
    for name in (*by, *filters):
        if name not in ROLLUP_KEYS:
            raise UnknownColumnError(f"{name!r} is not one of {', '.join(ROLLUP_KEYS)}")
    keys = [rollup_hourly.c[name] for name in by]
    sums = [func.sum(rollup_hourly.c[name]).label(name) for name in ROLLUP_SUMS]
    query = select(*keys, *sums).group_by(*keys).order_by(*keys)
    query = between(query, rollup_hourly.c.hour, start, end)
    for name, value in filters.items():
        query = query.where(rollup_hourly.c[name] == (value or ""))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = to_frame(rows, schema_of([*keys, *(rollup_hourly.c[name] for name in ROLLUP_SUMS)]))
    text_keys = [name for name in by if name != "hour"]
    # an ungrouped sum over no rows is one row of NULLs in SQL; report zeros instead
    return frame.with_columns(
        *(pl.col(name).replace("", None) for name in text_keys),
        *(pl.col(name).fill_null(0) for name in ROLLUP_SUMS),
    )


def logs_frame(
    engine: Engine,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    session_id: str | None = None,
    event_name: str | None = None,
) -> pl.DataFrame:
    """Claude Code log events in [start, end), oldest first; ``attributes`` is JSON text."""
    query = select(*logs.c).order_by(logs.c.time_ns, logs.c.id)
    query = between(query, logs.c.timestamp, start, end)
    if session_id is not None:
        query = query.where(logs.c.session_id == session_id)
    if event_name is not None:
        query = query.where(logs.c.event_name == event_name)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return to_frame(rows, schema_of(list(logs.c)))


def session_summary(
    engine: Engine, start: datetime | None = None, end: datetime | None = None
) -> pl.DataFrame:
    """One row per session with turns in [start, end): turn count, cost and tokens from the turns
    table, joined by session id to what Claude Code itself reported (tool results and their
    failures, API errors, prompts) in the same window. Sessions without events get zeros."""
    turn_query = between(
        select(
            turns.c.session_id,
            func.count().label("turns"),
            func.sum(turns.c.cost_usd).label("cost_usd"),
            func.sum(turns.c.input_tokens + turns.c.cache_creation_tokens + turns.c.cache_read_tokens)
            .label("total_input_tokens"),
            func.sum(turns.c.output_tokens).label("output_tokens"),
            func.sum(case((turns.c.ok, 0), else_=1)).label("turn_errors"),
        )
        .where(turns.c.session_id.is_not(None))
        .group_by(turns.c.session_id),
        turns.c.started_at, start, end,
    )
    event_query = between(
        select(
            logs.c.session_id,
            _count_if(logs.c.event_name == "claude_code.tool_result").label("tool_results"),
            _count_if((logs.c.event_name == "claude_code.tool_result") & logs.c.success.is_(False))
            .label("tool_failures"),
            _count_if(logs.c.event_name == "claude_code.api_error").label("api_errors"),
            _count_if(logs.c.event_name == "claude_code.user_prompt").label("user_prompts"),
        )
        .where(logs.c.session_id.is_not(None))
        .group_by(logs.c.session_id),
        logs.c.timestamp, start, end,
    )
    with engine.connect() as connection:
        turn_rows = connection.execute(turn_query).all()
        event_rows = connection.execute(event_query).all()
    turn_frame = pl.DataFrame(
        turn_rows, orient="row",
        schema={"session_id": pl.String, "turns": pl.Int64, "cost_usd": pl.Decimal(38, 9),
                "total_input_tokens": pl.Int64, "output_tokens": pl.Int64, "turn_errors": pl.Int64},
    )
    event_counts = ["tool_results", "tool_failures", "api_errors", "user_prompts"]
    event_frame = pl.DataFrame(
        event_rows, orient="row", schema={"session_id": pl.String, **dict.fromkeys(event_counts, pl.Int64)}
    )
    return (
        turn_frame.join(event_frame, on="session_id", how="left")
        .with_columns(pl.col(name).fill_null(0) for name in event_counts)
        .sort("session_id")
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def between(query: Select[Any], column: ColumnElement[Any], start: datetime | None,
            end: datetime | None) -> Select[Any]:
    """``query`` limited to rows whose ``column`` is in [start, end); an open end is no limit."""
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column < end)
    return query


def _turn_column(name: str) -> ColumnElement[Any]:
    if name == "model":
        return func.coalesce(turns.c.served_model, turns.c.requested_model, literal(""))
    if name not in FILTERABLE:
        raise UnknownColumnError(f"cannot filter turns by {name!r}; use one of {', '.join(FILTERABLE)}")
    return turns.c[name]
