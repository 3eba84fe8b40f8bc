"""The service's scheduled loop on a real SQLite store: scores, clusters, guards the active policy
and proposes, keeping the Optuna study in the project's database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import optuna

from optimizer.search import storage_url
from store.proposals import list_proposals
from switchyard.loop_jobs import LoopJobs, LoopSettings
from tests.optimizer.stored import world_store


def test_one_round_proposes_guards_and_keeps_the_study_in_the_database(tmp_path: Path) -> None:
    # 16 000 turns: a held-out half of the sessions certifies (optimizer/split.py) and each half needs
    # its explored sessions (optimizer/explored.py). v1 sends more to opus than this world needs, so
    # the proposal moves turns to a cheaper tier: against the default v1 it bought quality haiku →
    # sonnet, truly 0.0026 worse in all, which the floor under what a candidate buys (optimizer.replay
    # .upgrade_standard_error, Wilson-bounded since session 14) rightly calls too uncertain here
    url, engine, _ = world_store(tmp_path, turns=16_000, seed=3, opus_from=60_000)
    # the world's turns are from November 2026: a window of years reaches them whatever today is
    # min_saving 0: this small world's proposal saves under 1 %; the round is what is tested
    jobs = LoopJobs(engine, LoopSettings(window=timedelta(days=3650), trials=30, min_ess=50.0, min_saving=0.0))
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
