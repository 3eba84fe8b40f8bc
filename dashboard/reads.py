"""The dashboard's reads of raw turns, sessions and failure clusters (the aggregate pages read the
hourly rollup through store.queries instead). Each returns a polars frame with a fixed schema.

Every read here is bounded: by a time window that an index on ``started_at`` narrows, by a
``LIMIT`` on the newest rows, or by one session id (indexed), so pages stay fast as turns grow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

import polars as pl
from pydantic import ValidationError
from sqlalchemy import Engine, Select, Text, and_, case, cast, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.policy.compile import CompiledPolicy, compile_policy
from core.policy.problems import PolicyError
from store.errors import NotFoundError
from store.frames import schema_of, to_frame
from store.policies import get_version
from store.queries import between
from store.schema import failure_cluster_members, failure_clusters, scores, turns

# The columns a routing decision is explained from (see dashboard.decision), plus what a list shows.
DECISION_COLUMNS = ("trace_id", "span_id", "started_at", "session_id", "developer", "repo", "requested_model",
                    "served_model", "target", "rule", "policy_version", "estimated_input_tokens", "fallback_hops",
                    "status_code", "ok", "error_type", "ttfb_ms", "cost_usd")
CLUSTER_SCHEMA = {"run_id": pl.String(), "cluster": pl.Int64(), "created_at": pl.Datetime("us"),
                  "name": pl.String(), "size": pl.Int64(), "cost_usd": pl.Float64(), "trend": pl.String(),
                  "window_counts": pl.List(pl.Int64()), "features": pl.String(), "examples": pl.List(pl.String())}


def narrowed(query: Select[Any], named: Mapping[str, str]) -> Select[Any]:
    """``query`` on turns restricted to the global filters' names (dashboard.filters: team,
    developer, repo, and model: the served model, else the requested one, as the rollup keys it)."""
    for name, value in named.items():
        column = func.coalesce(turns.c.served_model, turns.c.requested_model) if name == "model" else turns.c[name]
        query = query.where(column == value)
    return query


def fell_back() -> ColumnElement[bool]:
    # An empty hop list is stored as "[]" on SQLite (JSON text) and PostgreSQL (jsonb::text) alike.
    return cast(turns.c.fallback_hops, Text) != "[]"


# The rollup has no latency or fallback columns, so these come from the turns themselves; a
# busy day can hold 50 000+ turns, so the read stops at the newest HEALTH_SAMPLE of them.
HEALTH_SAMPLE = 20_000
NO_FILTER: Mapping[str, str] = MappingProxyType({})  # every turn


def turn_health(engine: Engine, start: datetime, *, limit: int = HEALTH_SAMPLE,
                named: Mapping[str, str] = NO_FILTER) -> pl.DataFrame:
    """(started_at, ttfb_ms, ok, fell_back) of the newest ``limit`` turns since ``start`` (of the
    ``named`` team, developer, repo or model only, when given)."""
    # start_ns rather than started_at: SQLite hands datetimes back as text that SQLAlchemy parses
    # one by one; polars converts the integers in one go.
    query = (narrowed(select(turns.c.start_ns, turns.c.ttfb_ms, turns.c.ok, fell_back()), named)
             .where(turns.c.started_at >= start).order_by(turns.c.started_at.desc()).limit(limit))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pl.DataFrame(rows, orient="row", schema={"start_ns": pl.Int64(), "ttfb_ms": pl.Float64(),
                                                     "ok": pl.Boolean(), "fell_back": pl.Boolean()})
    return frame.select(pl.from_epoch("start_ns", "ns").dt.cast_time_unit("us").alias("started_at"),
                        "ttfb_ms", "ok", "fell_back")


def fallback_chains(engine: Engine, start: datetime, *, limit: int = HEALTH_SAMPLE,
                    named: Mapping[str, str] = NO_FILTER) -> pl.DataFrame:
    """(chain, turns) of the turns that walked a fallback chain among the newest ``limit`` turns
    since ``start``, commonest first."""
    # Filtering in SQL would still visit every turn of the window (the hops are not indexed);
    # bounding the window by count keeps the read as cheap as turn_health's.
    query = (narrowed(select(cast(turns.c.fallback_hops, Text)), named).where(turns.c.started_at >= start)
             .order_by(turns.c.started_at.desc()).limit(limit))
    with engine.connect() as connection:
        texts = [text for (text,) in connection.execute(query) if text != "[]"]
    chains = [" → ".join(_hops(text)) for text in texts]
    frame = pl.DataFrame({"chain": chains}, schema={"chain": pl.String()})
    return frame.group_by("chain").len("turns").sort(["turns", "chain"], descending=[True, False])


def _hops(value: Any) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value or ())


def recent_turns(engine: Engine, *, limit: int = 200, only_fallbacks: bool = False,
                 named: Mapping[str, str] = NO_FILTER) -> pl.DataFrame:
    """The newest ``limit`` turns (newest first) with the fields their decision is explained from."""
    columns = [turns.c[name] for name in DECISION_COLUMNS]
    query = (narrowed(select(*columns), named)
             .order_by(turns.c.started_at.desc(), turns.c.trace_id, turns.c.span_id).limit(limit))
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


# --- sessions: search ---------------------------------------------------------------------------
# A search reads a bounded number of turns, newest first, through an index: (developer,
# started_at) when a developer is named, (repo, started_at) for a repo (SCAN turns of theirs),
# started_at otherwise (RECENT_SCAN: the newest sessions only need the newest turns); the sessions
# found are then summed over all of their turns (session_id index). A result cut short says how far
# back it read.
RECENT_SCAN = 5_000
SCAN = 20_000
SESSION_LIMIT = 200
SESSION_SCHEMA = {"session_id": pl.String(), "developer": pl.String(), "team": pl.String(), "repo": pl.String(),
                  "turns": pl.Int64(), "errors": pl.Int64(), "cost_usd": pl.Float64(),
                  "first_at": pl.Datetime("us"), "last_at": pl.Datetime("us")}


@dataclass(frozen=True, slots=True)
class SessionSearch:
    sessions: pl.DataFrame  # SESSION_SCHEMA, most recently active first
    searched_back_to: datetime | None  # when the scan stopped before the range's start: its oldest turn


def find_sessions(engine: Engine, *, developer: str | None = None, repo: str | None = None,
                  start: datetime | None = None, end: datetime | None = None,
                  limit: int = SESSION_LIMIT, scan: int | None = None) -> SessionSearch:
    """Sessions with a turn in [start, end) by ``developer`` in ``repo`` (either may be None: any),
    most recently active first, each summed over all of its turns. ``scan`` bounds the turns read
    (default: SCAN with a developer or a repo, else RECENT_SCAN)."""
    scan = scan or (SCAN if developer is not None or repo is not None else RECENT_SCAN)

    def scanned(*columns: ColumnElement[Any]) -> Select[Any]:
        query = between(select(*columns), turns.c.started_at, start, end)
        if developer is not None:
            query = query.where(turns.c.developer == developer)
        if repo is not None:
            query = query.where(turns.c.repo == repo)
        return query.order_by(turns.c.started_at.desc())

    window = scanned(turns.c.session_id, turns.c.started_at).limit(scan).subquery()
    query = select(window.c.session_id, window.c.started_at)
    # the scan's last turn, if it has that many: an index walk of (developer or repo, started_at)
    last = scanned(turns.c.started_at).offset(scan - 1).limit(1)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        cut_at = connection.execute(last).scalar_one_or_none()
    newest: dict[str, None] = {}
    for session_id, _ in sorted(rows, key=lambda row: row[1], reverse=True):
        if session_id is None:  # a turn without a session id (a side call) is in no session
            continue
        newest.setdefault(session_id)
        if len(newest) == limit:
            break
    return SessionSearch(session_rows(engine, list(newest)), cut_at if len(newest) < limit else None)


def session_rows(engine: Engine, session_ids: list[str]) -> pl.DataFrame:
    """SESSION_SCHEMA rows of the given sessions (over all their turns), most recently active first."""
    if not session_ids:
        return pl.DataFrame(schema=SESSION_SCHEMA)
    query = (select(turns.c.session_id, func.max(turns.c.developer), func.max(turns.c.team), func.max(turns.c.repo),
                    func.count(), func.sum(case((turns.c.ok, 0), else_=1)), func.sum(turns.c.cost_usd),
                    func.min(turns.c.started_at), func.max(turns.c.started_at))
             .where(turns.c.session_id.in_(session_ids)).group_by(turns.c.session_id))
    with engine.connect() as connection:
        rows = [(*row[:6], float(row[6] or 0), *row[7:]) for row in connection.execute(query)]
    return (pl.DataFrame(rows, schema=SESSION_SCHEMA, orient="row")
            .sort(["last_at", "session_id"], descending=[True, False]))


# --- one turn ------------------------------------------------------------------------------------
MAX_KEYS = 50


def turns_by_keys(engine: Engine, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """A few turns (at most MAX_KEYS) by (trace_id, span_id), as row mappings by key. One
    primary-key equality per key: SQLite does not use the key's index for a row-value IN list."""
    keys = keys[:MAX_KEYS]
    if not keys:
        return {}
    query = select(*turns.c).where(or_(*(and_(turns.c.trace_id == trace_id, turns.c.span_id == span_id)
                                         for trace_id, span_id in keys)))
    with engine.connect() as connection:
        return {(row["trace_id"], row["span_id"]): dict(row) for row in connection.execute(query).mappings()}


def decision_policy(engine: Engine, version: str | None) -> CompiledPolicy | None:
    """The stored policy version a turn was decided under, compiled; None when it is not stored
    (or no longer compiles: the explanation then says its conditions are unknown)."""
    if not version:
        return None
    try:
        return compile_policy(get_version(engine, version).policy())
    except (NotFoundError, PolicyError, ValidationError):
        return None


TURN_SCORE_SCHEMA = {"evaluator": pl.String(), "version": pl.String(), "value": pl.Float64(), "label": pl.String(),
                     "reason": pl.String()}


def turn_scores(engine: Engine, trace_id: str, span_id: str) -> pl.DataFrame:
    """The evaluators' scores of one turn (primary-key lookup), lowest first."""
    query = (select(scores.c.evaluator, scores.c.version, scores.c.value, scores.c.label, scores.c.reason)
             .where(scores.c.trace_id == trace_id, scores.c.span_id == span_id)
             .order_by(scores.c.value, scores.c.evaluator))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return pl.DataFrame(rows, schema=TURN_SCORE_SCHEMA, orient="row")


def turn_clusters(engine: Engine, run_id: str, trace_id: str, span_id: str) -> list[tuple[int, str]]:
    """(cluster, name) of the clusters of run ``run_id`` that hold the turn (primary-key lookup)."""
    members = failure_cluster_members
    query = (select(members.c.cluster, failure_clusters.c.name)
             .join(failure_clusters, (failure_clusters.c.run_id == members.c.run_id)
                   & (failure_clusters.c.cluster == members.c.cluster))
             .where(members.c.run_id == run_id, members.c.trace_id == trace_id, members.c.span_id == span_id))
    with engine.connect() as connection:
        return [(int(cluster), str(name)) for cluster, name in connection.execute(query)]


# --- a failure cluster's sessions ----------------------------------------------------------------
CLUSTER_SESSION_SCHEMA = {"session_id": pl.String(), "developer": pl.String(), "repo": pl.String(),
                          "member_turns": pl.Int64(), "first_at": pl.Datetime("us"), "last_at": pl.Datetime("us")}


def cluster_sessions(engine: Engine, run_id: str, cluster: int, *,
                     limit: int = SESSION_LIMIT) -> tuple[pl.DataFrame, int]:
    """The sessions of a cluster's member turns, those with the most members first, at most
    ``limit`` of them, and how many there are in all (a member whose turn the retention job
    deleted has no session and is left out)."""
    members = failure_cluster_members
    count = func.count().label("member_turns")
    query = (select(turns.c.session_id, func.max(turns.c.developer), func.max(turns.c.repo), count,
                    func.min(turns.c.started_at), func.max(turns.c.started_at), func.count().over())
             .join(turns, (turns.c.trace_id == members.c.trace_id) & (turns.c.span_id == members.c.span_id))
             .where(members.c.run_id == run_id, members.c.cluster == cluster, turns.c.session_id.is_not(None))
             .group_by(turns.c.session_id).order_by(count.desc(), turns.c.session_id).limit(limit))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    total = int(rows[0][-1]) if rows else 0
    return pl.DataFrame([row[:-1] for row in rows], schema=CLUSTER_SESSION_SCHEMA, orient="row"), total
