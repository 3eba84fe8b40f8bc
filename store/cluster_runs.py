"""Writes and reads of failure-cluster runs: one row per cluster (name, size, cost, trend, window
counts, dominant features, examples) and one row per member turn."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Engine, func, select

from store.insert_ignore import insert_ignore
from store.schema import failure_cluster_members, failure_clusters


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


def run_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count(func.distinct(failure_clusters.c.run_id)))).scalar_one())
