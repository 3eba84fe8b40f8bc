"""Shared by the eval tests: put a simulated fleet into a store, score it, and measure the scores
against the fleet's ground truth (precision / recall per evaluator, adjusted Rand index of the
clusters against the injected failure modes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import Engine

from core.pricing import PriceTable
from evals.cluster_runner import ClusterRun
from evals.protocol import FAILING_BELOW
from ingest.local import LocalIngest, fixed_clock
from sim.fleet import Sink
from sim.fleet_config import FleetConfig
from sim.fleet_plan import BACKGROUND
from store.eval_queries import scores_frame

# What each evaluator should find, in terms of the fleet's ground truth.
TRUTH: dict[str, pl.Expr] = {
    "tool_failure": pl.col("outcome").is_in(["tool-fail", "bad-tool-input"]),
    "malformed_tool_input": pl.col("outcome") == "bad-tool-input",
    "truncation": pl.col("outcome") == "truncate",
    "upstream_error": pl.col("status") != 200,
    "latency_slo": pl.col("outcome") == "slow",
    # a turn that cost at least 4x what it would have with a warm cache and an ordinary answer
    "cost_outlier": pl.col("cost_ratio") >= 4.0,
    "stuck_loop": pl.col("outcome") == "loop",
    "escalation": pl.col("escalated_after"),
}
_STRINGS = ("span_id", "tools", "mode", "failing_tools", "malformed_tools", "stop_reason")


def read_truth(path: Path) -> pl.DataFrame:
    truth = pl.read_csv(path, schema_overrides=dict.fromkeys(_STRINGS, pl.String))
    return truth.with_columns(pl.col(name).fill_null("") for name in _STRINGS)


def store_sink(engine: Engine, prices: PriceTable, config: FleetConfig) -> Sink:
    """A ``run_fast`` sink writing through ingest's pipeline, ingested a day after the fleet's
    window ends (its last sessions run on for hours), so the data is inside ingest's time bounds."""
    return LocalIngest(engine, prices=prices, clock=fixed_clock(config.start + timedelta(days=config.days + 1))).write


def keyed_scores(engine: Engine) -> pl.DataFrame:
    """One row per stored turn: session_id, seq (its rank by start time in the session), span_id,
    and one column per evaluator holding its score."""
    scores = scores_frame(engine)
    wide = scores.pivot(on="evaluator", index=["trace_id", "span_id", "session_id", "started_at"], values="value")
    return wide.sort("session_id", "started_at", "span_id").with_columns(
        pl.int_range(pl.len()).over("session_id").alias("seq"))


@dataclass(frozen=True, slots=True)
class Accuracy:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0


def accuracy(truth: pl.DataFrame, scored: pl.DataFrame) -> dict[str, Accuracy]:
    joined = truth.join(scored.drop("span_id"), on=["session_id", "seq"], how="inner")
    assert joined.height == truth.height == scored.height, "every planned turn is stored and scored once"
    results = {}
    for name, expected in TRUTH.items():
        frame = joined.select(expected.alias("actual"), (pl.col(name) < FAILING_BELOW).alias("flagged"))
        results[name] = Accuracy(
            frame.filter(pl.col("actual") & pl.col("flagged")).height,
            frame.filter(~pl.col("actual") & pl.col("flagged")).height,
            frame.filter(pl.col("actual") & ~pl.col("flagged")).height,
        )
    return results


def cluster_ari(truth: pl.DataFrame, scored: pl.DataFrame, run: ClusterRun) -> tuple[float, pl.DataFrame]:
    """ARI of the clusters against the injected failure modes, over the clustered turns that an
    injected mode caused (natural, "background" failures have no mode to recover)."""
    labels = pl.DataFrame({"span_id": [row.span_id for row in run.rows],
                           "cluster": run.clustering.labels.tolist()})
    keyed = scored.select("span_id", "session_id", "seq").join(labels, on="span_id")
    joined = keyed.join(truth.select("session_id", "seq", "mode"), on=["session_id", "seq"])
    injected = joined.filter((pl.col("mode") != "") & (pl.col("mode") != BACKGROUND))
    return adjusted_rand_score(injected["mode"].to_list(), injected["cluster"].to_list()), injected
