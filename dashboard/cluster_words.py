"""A failure cluster in words: its dominant features as a sentence instead of JSON, its trends
each with the measure it is computed on, and its example turns as (trace id, span id) keys. Pure.

The clustering run (evals.cluster_summary) stores, per cluster, how many sessions it touched in
each time window, and a trend computed on the cluster's *share of all sessions active* in each
window (so a busy day alone is not a rising failure). The run does not store those totals, and
recounting them means reading every turn of the run's window (half a second on SQLite at 1 M
turns), so the page charts the sessions touched and computes the trend beside the chart on that
same measure; the run's own trend is shown too, named for what it measures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.window_trend import window_trend
from dashboard.conditions import grouped

# The evaluators whose failures are clustered, as people say them (evals.cluster_features).
SIGNAL_WORDS = {
    "stuck_loop": "stuck in a loop (the same tool call again and again)",
    "malformed_tool_input": "malformed tool input",
    "tool_failure": "tool calls failing",
    "upstream_error": "upstream errors",
    "truncation": "answers cut off at the output limit",
    "latency_slo": "slower than the latency objective",
    "cost_outlier": "cost far above similar turns",
    "failure": "failing evaluators",
}


def features_in_words(features: Mapping[str, Any]) -> str:
    """{"signal": "tool_failure", "tool": "Edit", "tier": "haiku", "tokens_p10": 12400} →
    "tool calls failing; tool Edit; mostly haiku; 9 in 10 turns above 12 400 tokens"."""
    parts = []
    signal = features.get("signal")
    if signal:
        parts.append(SIGNAL_WORDS.get(str(signal), str(signal).replace("_", " ")))
    if features.get("tool"):
        parts.append(f"tool {features['tool']}")
    if features.get("error_type"):
        parts.append(f"error {features['error_type']}")
    if features.get("tier"):
        parts.append(f"mostly {features['tier']}")
    if features.get("any_tier"):  # evals.cluster_tiers: no tier fails such turns more than another
        parts.append("as often on every tier compared: no routing avoids it")
    tokens = features.get("tokens_p10")
    if isinstance(tokens, int | float) and tokens > 0:
        parts.append(f"9 in 10 turns above {grouped(int(tokens))} tokens")
    known = {"signal", "tool", "error_type", "tier", "any_tier", "tokens_p10"}
    for key in sorted(set(features) - known):  # a feature a newer clustering adds still reads as words
        value = features[key]
        if value not in (None, "", [], {}):
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            parts.append(f"{key.replace('_', ' ')} {shown}")
    return "; ".join(parts) or "no dominant feature"


def count_trend(counts: Sequence[int]) -> str:
    """rising / steady / falling of the sessions touched per window *as charted*: the clustering's
    own test (core.window_trend), with the same exposure in every window (they are equally long)."""
    return window_trend(counts, [1] * len(counts))


def trend_sentences(counts: Sequence[int], run_trend: str) -> list[str]:
    """The charted trend with its numbers, and the clustering run's own (what alerts announce)."""
    charted = " → ".join(str(count) for count in counts)
    return [f"Sessions touched per window: {charted} ({count_trend(counts)}).",
            f"Against all active sessions in each window, the clustering run judged it {run_trend}: "
            "a cluster that grows only as fast as the traffic is steady there (this is the trend alerts announce)."]


def turn_key(example: str) -> tuple[str, str] | None:
    """"<trace_id>:<span_id>" (how a run stores an example) → (trace_id, span_id); None otherwise."""
    trace_id, sep, span_id = example.partition(":")
    if not sep or not trace_id or not span_id:
        return None
    return trace_id, span_id
