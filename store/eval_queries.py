"""Reads and writes for the eval runner: turns in ingestion order (keyset pages), whole sessions,
their Claude Code tool_result events, developers' recent costs, the scores table and the runner's
watermark. Frames come back with the turns/logs schemas of store.frames."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from store.frames import schema_of, to_frame
from store.insert_ignore import insert_ignore
from store.queries import between
from store.schema import eval_watermarks, logs, scores, turns

# Bound-parameter lists are chunked well under SQLite's and PostgreSQL's limits.
IN_CHUNK = 2_000
TOOL_RESULT_EVENT = "claude_code.tool_result"

Cursor = tuple[datetime, str, str]


def turns_after(engine: Engine, cursor: Cursor | None, limit: int) -> pl.DataFrame:
    """The keys (trace_id, span_id, session_id, ingested_at, started_at) of the next ``limit``
    turns in (ingested_at, trace_id, span_id) order after ``cursor``."""
    columns = [turns.c.trace_id, turns.c.span_id, turns.c.session_id, turns.c.ingested_at, turns.c.started_at]
    key = tuple_(turns.c.ingested_at, turns.c.trace_id, turns.c.span_id)
    query = select(*columns).order_by(turns.c.ingested_at, turns.c.trace_id, turns.c.span_id).limit(limit)
    if cursor is not None:
        query = query.where(key > tuple_(*cursor))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return to_frame(rows, schema_of(columns))


def first_started_since(engine: Engine, ingested_since: datetime | None) -> datetime | None:
    """The earliest start time among turns ingested at or after ``ingested_since``."""
    query = select(func.min(turns.c.started_at))
    if ingested_since is not None:
        query = query.where(turns.c.ingested_at >= ingested_since)
    with engine.connect() as connection:
        return connection.execute(query).scalar_one_or_none()


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start:start + IN_CHUNK]


def session_turn_rows(engine: Engine, session_ids: Sequence[str]) -> list[Mapping[str, Any]]:
    """Every turn of the given sessions, as row mappings (list columns decoded). Plain rows, not a
    frame: the caller turns each into a Turn anyway, and building a frame of list columns costs
    more than the query."""
    rows: list[Mapping[str, Any]] = []
    with engine.connect() as connection:
        for chunk in _chunks(sorted(set(session_ids))):
            result = connection.execute(select(*turns.c).where(turns.c.session_id.in_(chunk)))
            rows.extend(result.mappings().all())
    return rows


def session_tool_event_rows(engine: Engine, session_ids: Sequence[str]) -> list[Mapping[str, Any]]:
    """Claude Code's tool_result events of the given sessions, oldest first (``attributes`` a dict)."""
    columns = [logs.c.session_id, logs.c.time_ns, logs.c.success, logs.c.attributes]
    rows: list[Mapping[str, Any]] = []
    with engine.connect() as connection:
        for chunk in _chunks(sorted(set(session_ids))):
            query = select(*columns).where(logs.c.session_id.in_(chunk), logs.c.event_name == TOOL_RESULT_EVENT)
            rows.extend(connection.execute(query).mappings().all())
    return sorted(rows, key=lambda row: row["time_ns"])


def developer_costs(engine: Engine, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """(developer, model, cost_usd) of every priced turn started in [start, end), where model is
    the served model (else the requested one): the cost baselines' input."""
    model = func.coalesce(turns.c.served_model, turns.c.requested_model).label("model")
    columns = [turns.c.developer, model, turns.c.cost_usd]
    query = select(*columns).where(turns.c.developer.is_not(None), turns.c.priced)
    query = between(query, turns.c.started_at, start, end)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return to_frame(rows, {"developer": pl.String(), "model": pl.String(), "cost_usd": pl.Decimal(38, 9)})


def write_scores(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert score rows; a (turn, evaluator, version) already scored is left alone. Returns how
    many rows were new."""
    with engine.begin() as connection:
        return insert_ignore(connection, scores, rows)


def scores_frame(engine: Engine, start: datetime | None = None, end: datetime | None = None, *,
                 evaluators: Sequence[str] | None = None) -> pl.DataFrame:
    """Scores of turns started in [start, end), optionally only some evaluators."""
    query = select(*scores.c).order_by(scores.c.started_at, scores.c.trace_id, scores.c.span_id, scores.c.evaluator)
    query = between(query, scores.c.started_at, start, end)
    if evaluators is not None:
        query = query.where(scores.c.evaluator.in_(list(evaluators)))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return to_frame(rows, schema_of(list(scores.c)))


def read_watermark(engine: Engine, name: str) -> datetime | None:
    with engine.connect() as connection:
        return connection.execute(
            select(eval_watermarks.c.ingested_at).where(eval_watermarks.c.name == name)).scalar_one_or_none()


def save_watermark(engine: Engine, name: str, ingested_at: datetime, now: datetime) -> None:
    values = {"name": name, "ingested_at": ingested_at, "updated_at": now}
    with engine.begin() as connection:
        dialect = connection.dialect.name
        insert = postgresql.insert(eval_watermarks) if dialect == "postgresql" else sqlite.insert(eval_watermarks)
        statement = insert.values(values).on_conflict_do_update(
            index_elements=[eval_watermarks.c.name],
            set_={"ingested_at": ingested_at, "updated_at": now},
        )
        connection.execute(statement)


def failing_scores(engine: Engine, start: datetime | None, end: datetime | None, evaluators: Sequence[str],
                   below: float) -> pl.DataFrame:
    """(trace_id, span_id, session_id, evaluator) of scores under ``below`` for turns started in
    [start, end), from the given evaluators."""
    columns = [scores.c.trace_id, scores.c.span_id, scores.c.session_id, scores.c.evaluator]
    query = select(*columns).where(scores.c.evaluator.in_(list(evaluators)), scores.c.value < below)
    query = between(query, scores.c.started_at, start, end)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return to_frame(rows, schema_of(columns))


def turn_rows_by_keys(engine: Engine, keys: Sequence[tuple[str, str]]) -> list[Mapping[str, Any]]:
    """The turns with the given (trace_id, span_id) keys, as row mappings."""
    rows: list[Mapping[str, Any]] = []
    key = tuple_(turns.c.trace_id, turns.c.span_id)
    with engine.connect() as connection:
        for start in range(0, len(keys), IN_CHUNK // 2):
            chunk = list(keys[start:start + IN_CHUNK // 2])
            rows.extend(connection.execute(select(*turns.c).where(key.in_(chunk))).mappings().all())
    return rows


WINDOW_BATCH = 50_000


def window_turns(engine: Engine, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    """Every turn in [start, end), failing or not: when it started and its session (trends need the
    activity per window), who served it, its request class, the tools offered and its prompt size
    (whether a failure cluster is its tier's needs every tier's turns: evals.cluster_tiers)."""
    prompt = turns.c.input_tokens + turns.c.cache_creation_tokens + turns.c.cache_read_tokens
    columns = [turns.c.started_at, turns.c.session_id, turns.c.served_model, turns.c.requested_model,
               turns.c.target, turns.c.request_class, turns.c.tool_count, turns.c.estimated_input_tokens,
               prompt.label("prompt_tokens")]
    query = between(select(*columns), turns.c.started_at, start, end)
    schema = schema_of(columns)
    # a batch of rows at a time into frames: a million turns as Python rows at once took 1.3 GB
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=WINDOW_BATCH).execute(query)
        frames = [to_frame(batch, schema) for batch in result.partitions()]
    return pl.concat(frames) if frames else to_frame([], schema)
