"""Turn a clustering into named failure modes: a readable name from each cluster's dominant features
("haiku · > 12 K tokens · Edit failures"; "haiku · main · ≥ 12 tools offered · tool failure"),
always led by the tier that failed (the dominant one, else every tier with a quarter of the cluster,
"haiku/sonnet"; for a turn a fallback rescued, the tier that failed, not the one that answered:
evals.cluster_features; "any tier" for failures no tier has more of: evals.cluster_tiers), its size,
the cost it burned, its trend over time windows (rising / steady / falling, as a share of all turns
in each window) and example turns (the ones nearest its centre). Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.window_trend import window_trend
from evals.cluster_features import TOKEN_EDGES, FailureFeatures
from evals.clusters import Clustering

# A feature names the cluster when at least this share of its turns have it.
DOMINANT_SHARE = 0.6
EXAMPLES = 5
_SIGNAL_WORDS = {
    "malformed_tool_input": "malformed tool input",
    "truncation": "truncations",
    "latency_slo": "slow (beyond SLO)",
    "cost_outlier": "cost spikes",
}
# When several evaluators flag the same turns, the most specific one names the cluster.
_SIGNAL_PRIORITY = ("stuck_loop", "malformed_tool_input", "tool_failure", "upstream_error", "truncation",
                    "latency_slo", "cost_outlier")


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    cluster: int
    name: str
    size: int
    cost_usd: float
    trend: str
    window_counts: list[int]
    features: dict[str, Any]
    examples: list[str]  # "trace_id:span_id"
    members: list[int]  # row indices


def dominant(values: Sequence[str]) -> str | None:
    if not values:
        return None
    value, count = Counter(values).most_common(1)[0]
    return value if count >= DOMINANT_SHARE * len(values) else None


def _size_edge(tokens: Sequence[int]) -> int:
    """The largest bucket edge that 90 % of ``tokens`` exceed (0 when none)."""
    low = float(np.percentile(tokens, 10))
    return max((edge for edge in TOKEN_EDGES[1:] if low > edge), default=0)


def _size_phrase(tokens: Sequence[int], population_edge: int) -> str | None:
    # only worth naming when the cluster sits above the failing population as a whole
    edge = _size_edge(tokens)
    return f"> {edge // 1000} K tokens" if edge > population_edge else None


TIER_ORDER = ("haiku", "sonnet", "opus")
# leads the name of a cluster whose failures no tier has more of than the others (evals.cluster_tiers)
ANY_TIER = "any tier"
# a tier is named in a mixed cluster's name when it holds at least this share of it
NAMED_TIER_SHARE = 0.25


def _tier_phrase(tiers: Sequence[str]) -> str:
    most = dominant(tiers)
    if most is not None:
        return most
    counts = Counter(tiers)
    named = [tier for tier in (*TIER_ORDER, *sorted(set(tiers) - set(TIER_ORDER)))
             if counts[tier] >= NAMED_TIER_SHARE * len(tiers)]
    return "/".join(named) or "mixed tiers"


def _class_phrase(classes: Sequence[str], population: set[str]) -> str | None:
    # worth naming only when the failing population has more than one class
    most = dominant(classes)
    return most if most and len(population) > 1 else None


def _tools_phrase(offered: Sequence[int], population_low: int) -> str | None:
    low = int(np.percentile(offered, 10))
    return f"≥ {low} tools offered" if low > population_low else None


def cluster_signal(rows: Sequence[FailureFeatures]) -> str:
    """The evaluator that names a cluster: the most specific one flagging most of its turns, else
    the most common."""
    signals = Counter(signal for row in rows for signal in row.signals)
    frequent = [s for s in _SIGNAL_PRIORITY if signals[s] >= DOMINANT_SHARE * len(rows)]
    return frequent[0] if frequent else (signals.most_common(1)[0][0] if signals else "failure")


def _what(rows: Sequence[FailureFeatures]) -> tuple[str, dict[str, Any]]:
    signal = cluster_signal(rows)
    facts: dict[str, Any] = {"signal": signal}
    tool = dominant([tool for row in rows for tool in (row.failed_tools or ("",))])
    called = dominant([row.tool_names[0] if len(row.tool_names) == 1 else "" for row in rows])
    error = dominant([row.error_type for row in rows])
    if signal == "stuck_loop":
        facts["tool"] = called
        return (f"{called} loops" if called else "stuck loops"), facts
    if signal in ("tool_failure", "malformed_tool_input") and tool:
        facts["tool"] = tool
        return (f"{tool} malformed input" if signal == "malformed_tool_input" else f"{tool} failures"), facts
    if signal == "upstream_error" and error:
        facts["error_type"] = error
        return error, facts
    return _SIGNAL_WORDS.get(signal, signal.replace("_", " ")), facts


def window_index(start_ns: int, end_ns: int, windows: int, at_ns: int) -> int:
    span = max(end_ns - start_ns, 1)
    return min(windows - 1, max(0, (at_ns - start_ns) * windows // span))


def summarise(rows: Sequence[FailureFeatures], clustering: Clustering, *, start_ns: int, end_ns: int,
              window_totals: Sequence[int]) -> list[ClusterSummary]:
    """One summary per cluster, largest first. ``window_counts`` counts the sessions the cluster
    touched in each of the equal time windows between ``start_ns`` and ``end_ns``;
    ``window_totals`` is the number of sessions active in each window (failing or not)."""
    windows = len(window_totals)
    population_edge = _size_edge([row.total_tokens for row in rows]) if rows else 0
    population_classes = {row.request_class for row in rows if row.request_class}
    population_tools = int(np.percentile([row.offered_tools for row in rows], 10)) if rows else 0
    summaries = []
    for cluster in sorted(set(clustering.labels.tolist())):
        members = [i for i, label in enumerate(clustering.labels) if label == cluster]
        chosen = [rows[i] for i in members]
        what, facts = _what(chosen)
        shared = cluster in clustering.shared
        tier = None if shared else dominant([row.tier for row in chosen])
        size_phrase = _size_phrase([row.total_tokens for row in chosen], population_edge)
        request_class = _class_phrase([row.request_class for row in chosen], population_classes)
        tools_phrase = _tools_phrase([row.offered_tools for row in chosen], population_tools)
        tiers = ANY_TIER if shared else _tier_phrase([row.tier for row in chosen])
        name = " · ".join(part for part in (tiers, request_class, tools_phrase,
                                            size_phrase, what) if part)
        # sessions, not turns: one stuck session repeats its failure turn after turn
        touched = {(window_index(start_ns, end_ns, windows, row.started_at_ns), row.session_id) for row in chosen}
        counts = [sum(1 for window, _ in touched if window == w) for w in range(windows)]
        p10 = int(np.percentile([row.total_tokens for row in chosen], 10))
        nearest = sorted(members, key=lambda i: float(clustering.centroid_distance[i]))[:EXAMPLES]
        summaries.append(ClusterSummary(
            cluster=cluster, name=name, size=len(members), cost_usd=sum(row.cost_usd for row in chosen),
            trend=window_trend(counts, window_totals), window_counts=counts,
            features={**facts, "tier": tier, "any_tier": shared, "tokens_p10": p10},
            examples=[f"{rows[i].trace_id}:{rows[i].span_id}" for i in nearest], members=members,
        ))
    summaries.sort(key=lambda summary: -summary.size)
    return summaries
