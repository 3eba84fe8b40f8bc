"""Writes and reads of failure-cluster runs: one row per cluster (name, size, cost, trend, window
counts, dominant features, examples) and one row per member turn."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from store.insert_ignore import insert_ignore
from store.schema import failure_cluster_members, failure_clusters, turns

# what a member listing shows of each turn besides its ids (enough to find it and see what it was)
MEMBER_TURN_COLUMNS = ("started_at", "session_id", "developer", "repo", "request_class", "served_model", "target",
                       "estimated_input_tokens", "tool_count", "error_type")


def write_cluster_run(engine: Engine, clusters: Sequence[Mapping[str, Any]],
                      members: Sequence[Mapping[str, Any]]) -> None:
    """Store one run atomically; writing the same run again changes nothing."""
    with engine.begin() as connection:
        insert_ignore(connection, failure_clusters, clusters)
        insert_ignore(connection, failure_cluster_members, members)


def latest_run_id(engine: Engine) -> str | None:
    query = select(failure_clusters.c.run_id).order_by(
        failure_clusters.c.created_at.desc(), failure_clusters.c.run_id.desc()).limit(1)
    with engine.connect() as connection:
        return connection.execute(query).scalar_one_or_none()


def clusters_frame(engine: Engine, run_id: str | None = None) -> pl.DataFrame:
    """The clusters of ``run_id`` (default: the latest run), largest first. ``features`` is a
    JSON object (decoded to a string of JSON), ``window_counts`` and ``examples`` are lists."""
    run_id = run_id or latest_run_id(engine)
    query = select(*failure_clusters.c).where(failure_clusters.c.run_id == run_id).order_by(
        failure_clusters.c.size.desc(), failure_clusters.c.cluster)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    schema = {
        "run_id": pl.String, "cluster": pl.Int64, "created_at": pl.Datetime("us"), "window_start": pl.Datetime("us"),
        "window_end": pl.Datetime("us"), "name": pl.String, "size": pl.Int64, "cost_usd": pl.Float64,
        "trend": pl.String, "window_counts": pl.List(pl.Int64), "features": pl.String, "examples": pl.List(pl.String),
    }
    for row in rows:
        row["features"] = json.dumps(row["features"], sort_keys=True)
        row["cost_usd"] = float(row["cost_usd"])
    return pl.DataFrame(rows, schema=schema, orient="row")


def cluster_members(engine: Engine, run_id: str) -> pl.DataFrame:
    columns = list(failure_cluster_members.c)
    query = select(*columns).where(failure_cluster_members.c.run_id == run_id)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pl.DataFrame(rows, schema={"run_id": pl.String, "trace_id": pl.String, "span_id": pl.String,
                                      "cluster": pl.Int64}, orient="row")


def member_turns(engine: Engine, run_id: str, *, cluster: int | None = None, limit: int = 100,
                 offset: int = 0) -> list[dict[str, Any]]:
    """A page of a run's members (one cluster's, or every cluster's), ordered by cluster then turn
    start, each with the cluster's name and what the turn was (MEMBER_TURN_COLUMNS; None for a turn
    the retention job has since deleted)."""
    members, clusters = failure_cluster_members, failure_clusters
    query = (select(members.c.cluster, clusters.c.name, members.c.trace_id, members.c.span_id,
                    *(turns.c[name] for name in MEMBER_TURN_COLUMNS))
             .join(clusters, (clusters.c.run_id == members.c.run_id) & (clusters.c.cluster == members.c.cluster))
             .outerjoin(turns, (turns.c.trace_id == members.c.trace_id) & (turns.c.span_id == members.c.span_id))
             .where(members.c.run_id == run_id)
             .order_by(members.c.cluster, turns.c.started_at, members.c.trace_id, members.c.span_id)
             .limit(limit).offset(offset))
    if cluster is not None:
        query = query.where(members.c.cluster == cluster)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def run_exists(engine: Engine, run_id: str) -> bool:
    query = select(failure_clusters.c.run_id).where(failure_clusters.c.run_id == run_id).limit(1)
    with engine.connect() as connection:
        return connection.execute(query).first() is not None


def run_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count(func.distinct(failure_clusters.c.run_id)))).scalar_one())
