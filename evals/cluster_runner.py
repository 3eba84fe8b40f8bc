"""The clustering run (I/O): read the failing scores of a time window, rebuild those turns'
contexts, cluster them (:mod:`evals.clusters`), merge the clusters that are no one tier's
(:mod:`evals.cluster_tiers`, against every turn of the window), name them
(:mod:`evals.cluster_summary`) and store the run in ``failure_clusters`` /
``failure_cluster_members``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
from sqlalchemy import Engine

from core.price_memo import PriceMemo
from core.pricing import PriceTable
from evals.cluster_features import (
    CLUSTERED_EVALUATORS,
    UNKNOWN_TIER,
    FailureFeatures,
    failure_features,
    tier_of_target,
)
from evals.cluster_summary import ClusterSummary, summarise, window_index
from evals.cluster_tiers import TurnPopulation, merge_shared
from evals.clusters import Clustering, ClusterSettings, cluster_failures
from evals.context import build_contexts
from evals.protocol import FAILING_BELOW
from evals.runner import frame_keys, load_sessions
from evals.tiers import TierLookup
from store.cluster_runs import write_cluster_run
from store.eval_queries import failing_scores, window_turns
from store.policies import list_versions


@dataclass(frozen=True, slots=True)
class ClusterRun:
    run_id: str
    window_start: datetime
    window_end: datetime
    rows: list[FailureFeatures]
    clustering: Clustering
    clusters: list[ClusterSummary]


def _ns(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1e9)


def target_tiers(engine: Engine) -> dict[str, str]:
    """Each target name's tier, from the stored policy versions (newest wins): how a fallback hop's
    target (``anthropic-opus:timeout``) is told apart from the tier that answered."""
    tiers: dict[str, str] = {}
    for version in list_versions(engine):
        for target in version.document.get("targets", ()):
            if isinstance(target, dict) and target.get("tier") and target.get("name"):
                tiers[str(target["name"])] = str(target["tier"])
    return tiers


def failing_rows(engine: Engine, start: datetime, end: datetime, prices: PriceTable,
                 evaluators: tuple[str, ...] = CLUSTERED_EVALUATORS, batch_size: int = 5_000) -> list[FailureFeatures]:
    """Features of every turn with a failing score in [start, end). Failing turns are spread over
    most sessions, so their sessions are loaded a batch at a time (bounded memory)."""
    scores = failing_scores(engine, start, end, evaluators, FAILING_BELOW)
    signals = (scores.group_by("session_id", "trace_id", "span_id")
               .agg(pl.col("evaluator").unique().sort())
               .sort("session_id", "trace_id", "span_id"))  # a session's failures in one batch, mostly
    tiers = TierLookup(PriceMemo(prices))
    by_target = target_tiers(engine)
    rows: list[FailureFeatures] = []
    for offset in range(0, signals.height, batch_size):
        batch = signals.slice(offset, batch_size)
        loaded = load_sessions(engine, batch)
        by_key = dict(zip(frame_keys(batch), batch["evaluator"].to_list(), strict=True))
        ready = [loaded.turns[key] for key in by_key if key in loaded.turns]
        contexts = build_contexts(ready, loaded.located, loaded.costs, loaded.events, {})
        rows.extend(failure_features(ctx, by_key[(ctx.turn.trace_id, ctx.turn.span_id)], tiers, by_target)
                    for ctx in contexts)
    return rows


def population(frame: pl.DataFrame, tiers: TierLookup, by_target: dict[str, str]) -> TurnPopulation:
    """The window's turns (store.eval_queries.window_turns) as evals.cluster_tiers reads them: a
    turn's tier and size found as evals.cluster_features finds a failing turn's (a turn no model
    served is its target's tier), except that a turn a fallback rescued counts among the turns of the
    tier that answered it while its failure counts against the first hop's: a few turns in a
    denominator, against reading every turn's fallback chain."""
    def tier(served: str | None, requested: str | None, target: str | None) -> str:
        found = tiers(served or requested) or UNKNOWN_TIER
        return (tier_of_target(target, by_target) or found) if served is None and target else found

    memo: dict[tuple[str | None, str | None, str | None], str] = {}
    keys = zip(frame["served_model"].to_list(), frame["requested_model"].to_list(), frame["target"].to_list(),
               strict=True)
    prompt = frame["prompt_tokens"].fill_null(0)
    tokens = pl.select(pl.when(prompt > 0).then(prompt).otherwise(frame["estimated_input_tokens"].fill_null(0)))
    return TurnPopulation.of([memo.setdefault(key, tier(*key)) for key in keys],
                             frame["request_class"].fill_null("").to_list(),
                             frame["tool_count"].fill_null(0).to_list(), tokens.to_series().to_list())


def run_clustering(engine: Engine, prices: PriceTable, *, start: datetime | None = None, end: datetime | None = None,
                   windows: int = 4, settings: ClusterSettings | None = None, now: datetime | None = None,
                   store: bool = True) -> ClusterRun:
    """Cluster the failures of turns started in [start, end) (default: the 7 days before now)."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    end = end or now
    start = start or end - timedelta(days=7)
    rows = failing_rows(engine, start, end, prices)
    window = window_turns(engine, start, end)
    clustering = merge_shared(rows, cluster_failures(rows, settings),
                              population(window, TierLookup(PriceMemo(prices)), target_tiers(engine)))
    start_ns, end_ns = _ns(start), _ns(end)
    active: set[tuple[int, str]] = set()
    for moment, session_id in window.select("started_at", "session_id").iter_rows():
        active.add((window_index(start_ns, end_ns, windows, _ns(moment)), session_id or f"{moment}"))
    totals = [sum(1 for window, _ in active if window == w) for w in range(windows)]
    clusters = summarise(rows, clustering, start_ns=start_ns, end_ns=end_ns, window_totals=totals)
    run_id = hashlib.sha256(f"{start.isoformat()}|{end.isoformat()}|{now.isoformat()}".encode()).hexdigest()[:32]
    if store:
        write_cluster_run(engine, [
            {"run_id": run_id, "cluster": summary.cluster, "created_at": now, "window_start": start,
             "window_end": end, "name": summary.name, "size": summary.size,
             "cost_usd": Decimal(str(round(summary.cost_usd, 9))), "trend": summary.trend,
             "window_counts": summary.window_counts, "features": summary.features, "examples": summary.examples}
            for summary in clusters
        ], [
            {"run_id": run_id, "trace_id": rows[i].trace_id, "span_id": rows[i].span_id, "cluster": summary.cluster}
            for summary in clusters for i in summary.members
        ])
    return ClusterRun(run_id, start, end, rows, clustering, clusters)
