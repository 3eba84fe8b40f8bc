"""Accuracy against the ground truth, FAST mode: a seeded fleet (a seed none of the evaluators
were tuned on) written through ingest's pipeline into SQLite and PostgreSQL, scored, clustered, and compared with
what the simulator injected. Every evaluator must reach precision and recall ≥ 0.9 and the
clusters must recover the injected failure modes (adjusted Rand index ≥ 0.8)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from core.pricing import builtin_price_table
from evals.cluster_runner import run_clustering
from evals.registry import builtin_evaluators
from evals.runner import run_evals
from sim.fleet import run_fast
from sim.fleet_config import FleetConfig
from store.cluster_runs import cluster_members, clusters_frame
from tests.evals.harness import accuracy, cluster_ari, keyed_scores, read_truth, store_sink

SEED = 20261124
SESSIONS = 450


def test_evaluators_and_clusters_recover_the_injected_truth(db_engine: Engine, tmp_path: Path) -> None:
    prices = builtin_price_table()
    config = FleetConfig(seed=SEED, sessions=SESSIONS)
    summary = run_fast(config, prices, store_sink(db_engine, prices, config), truth_path=tmp_path / "truth.csv",
                       batch_turns=2_000)
    truth = read_truth(tmp_path / "truth.csv")
    assert summary.turns == truth.height > 4_000

    report = run_evals(db_engine, builtin_evaluators(prices))
    assert (report.examined, report.scored_turns, report.deferred) == (summary.turns, summary.turns, 0)
    scored = keyed_scores(db_engine)
    results = accuracy(truth, scored)
    table = {name: (r.true_positives, r.false_positives, r.false_negatives) for name, r in results.items()}
    for name, result in results.items():
        assert result.true_positives >= 30, (name, table)
        assert result.precision >= 0.9 and result.recall >= 0.9, (name, table)

    run = run_clustering(db_engine, prices, start=config.start.replace(tzinfo=None),
                         end=datetime(2026, 11, 9), now=datetime(2026, 11, 24))
    ari, injected = cluster_ari(truth, scored, run)
    assert ari >= 0.8, (ari, injected.group_by("mode", "cluster").len().sort("mode", "cluster").rows())
    assert injected["mode"].n_unique() == len(config.modes)

    # each injected mode's largest cluster carries a name saying what the mode is
    names = {summary.cluster: summary.name for summary in run.clusters}
    named = {mode: names[group["cluster"].mode()[0]] for (mode,), group in injected.group_by("mode")}
    expected = {
        "haiku-edit-large": ("haiku", "Edit failures"),
        "opus-timeout-huge": ("opus", "> 150 K tokens", "timeout_error"),
        "sonnet-bash-malformed": ("sonnet", "Bash malformed input"),
        "haiku-truncate-long": ("truncations",),
        "monorepo-grep-loop": ("Grep loops",),
        "legacy-cache-bust": ("cost spikes",),
        "sonnet-slow-large": ("sonnet", "slow"),
    }
    for mode, words in expected.items():
        assert all(word in named[mode] for word in words), (mode, named[mode])

    stored = clusters_frame(db_engine)
    assert stored["run_id"].unique().to_list() == [run.run_id]
    assert stored["name"].to_list() == [summary.name for summary in run.clusters]
    assert stored["size"].sum() == len(run.rows) == cluster_members(db_engine, run.run_id).height
    assert set(stored["trend"]) <= {"rising", "steady", "falling"}
    assert (stored["cost_usd"] >= 0).all() and stored.filter(pl.col("examples").list.len() == 0).is_empty()
