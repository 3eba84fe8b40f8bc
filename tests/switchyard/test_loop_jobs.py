"""The service's scheduled loop on a real SQLite store: scores, clusters, guards the active policy
and proposes, keeping the Optuna study in the project's database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import optuna

from bench.optimizer_world import START, default_policy, generate
from core.pricing import builtin_price_table
from optimizer.search import storage_url
from store.engine import make_engine
from store.policies import activate, create_version
from store.proposals import list_proposals
from store.testing import migrated_sqlite_url
from switchyard.loop_jobs import LoopJobs, LoopSettings
from tests.optimizer.stored import store_world


def test_one_round_proposes_guards_and_keeps_the_study_in_the_database(tmp_path: Path) -> None:
    url = migrated_sqlite_url(tmp_path)
    engine = make_engine(url)
    prices = builtin_price_table()
    policy = default_policy("v1", explore=30)
    create_version(engine, policy, actor="alice", now=START)
    activate(engine, "v1", actor="alice", now=START)
    store_world(engine, generate(policy, prices, turns=4_000, seed=3), prices)
    # the world's turns are from November 2026: a window of years reaches them whatever today is
    jobs = LoopJobs(engine, LoopSettings(window=timedelta(days=3650), trials=30, min_ess=50.0))
    jobs.run_once()
    assert jobs.status.errors == []
    assert jobs.status.guard == "v1: insufficient"  # no earlier version to compare with
    assert jobs.status.proposal.startswith("pending for approval: v1.opt-"), jobs.status.proposal
    assert len(list_proposals(engine, status="proposed")) == 1
    studies = optuna.study.get_all_study_summaries(storage_url(url))
    assert len(studies) == 1 and studies[0].study_name.startswith("scheduled-") and studies[0].n_trials >= 30
    jobs.run_once()  # a proposal is pending: the optimizer waits for a decision instead of piling up more
    assert jobs.status.proposal.startswith("a proposal is pending")
    assert len(optuna.study.get_all_study_summaries(storage_url(url))) == 1
    engine.dispose()
