"""Optimizer workers share one Optuna study on PostgreSQL: separate processes on the same store and
study name (as several `switchyard optimize --shared-study NAME` would be). The study ends up with
the trials of all of them, each trial run by exactly one worker under its own number, nothing left
running or failed; its best trial is the best of all trials and of what the workers saw; the
workers' proposals land in the store with an intact audit chain."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest

from bench.optimizer_world import START, default_policy, generate
from core.pricing import builtin_price_table
from optimizer.search import storage_url
from store.audit import verify_audit
from store.engine import make_engine
from store.policies import activate, create_version
from store.proposals import list_proposals
from tests.optimizer.stored import drop_optuna_storage, store_world
from tests.scale.optuna_worker import TRIALS
from tests.scale.services import postgres_schema

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
TURNS = 3_000
WORKER_TIMEOUT_S = 45.0
COMPLETE, WAITING = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.WAITING


def _seed_store(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        prices = builtin_price_table()
        policy = default_policy("v1", explore=30)
        create_version(engine, policy, actor="alice", now=START - timedelta(days=1))
        activate(engine, "v1", actor="alice", now=START - timedelta(days=1))
        store_world(engine, generate(policy, prices, turns=TURNS, seed=5, days=7.0), prices)
    finally:
        engine.dispose()


def _run_workers(commands: list[list[str]]) -> list[dict[str, Any]]:
    """Run the workers at once; each must succeed. Their JSON reports, in order."""
    workers = [subprocess.Popen([sys.executable, "-m", "tests.scale.optuna_worker", *command], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for command in commands]
    try:
        outputs = [worker.communicate(timeout=WORKER_TIMEOUT_S) for worker in workers]
    finally:
        for worker in workers:  # only the processes started here, by their own handles
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    failed = [errors[-3000:] for worker, (_, errors) in zip(workers, outputs, strict=True) if worker.returncode]
    assert not failed, "\n---\n".join(failed)
    return [json.loads(out.splitlines()[-1]) for out, _ in outputs]


def _study(database_url: str, study_name: str) -> tuple[list[optuna.trial.FrozenTrial], optuna.trial.FrozenTrial]:
    storage = optuna.storages.RDBStorage(storage_url(database_url))
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
        return study.trials, study.best_trial
    finally:
        storage.remove_session()
        storage.engine.dispose()


def _assert_shared(trials: list[optuna.trial.FrozenTrial], best: optuna.trial.FrozenTrial,
                   reports: list[dict[str, Any]]) -> None:
    states = {trial.state for trial in trials}
    assert states <= {COMPLETE, WAITING}, states  # none failed, none left running
    complete = {trial.number: trial.value for trial in trials if trial.state == COMPLETE}
    ran = [{int(number): value for number, value in report["trials"]} for report in reports]
    assert all(len(mine) >= TRIALS for mine in ran), [len(mine) for mine in ran]  # every worker took part
    assert sum(len(mine) for mine in ran) == len(complete)
    assert set().union(*ran) == set(complete)  # every trial of the study was run by a worker, once:
    assert all(not set(a) & set(b) for i, a in enumerate(ran) for b in ran[i + 1:])  # by exactly one
    assert all(complete[number] == pytest.approx(value) for mine in ran for number, value in mine.items())
    assert best.value == pytest.approx(min(value for value in complete.values() if value is not None))
    assert best.value == pytest.approx(min(v for mine in ran for v in mine.values() if v is not None))
    assert [mine[best.number] for mine in ran if best.number in mine] == [pytest.approx(best.value)]
    assert best.user_attrs["cost"] <= best.value  # the objective is the cost, penalised when infeasible


def test_two_optimizer_workers_share_one_optuna_study() -> None:
    with postgres_schema() as database_url:
        _seed_store(database_url)
        study_name = "shared-" + secrets.token_hex(4)
        try:
            # the study's storage exists, as after any earlier run (starting on a fresh database is
            # the next test)
            optuna.storages.RDBStorage(storage_url(database_url)).engine.dispose()
            reports = _run_workers([["propose", database_url, study_name, str(seed)] for seed in (1, 2)])
            trials, best = _study(database_url, study_name)
        finally:
            drop_optuna_storage(database_url)
        _assert_shared(trials, best, reports)
        engine = make_engine(database_url)
        try:
            proposed = {report["proposal"] for report in reports} - {None}
            assert {proposal.id for proposal in list_proposals(engine, status="proposed")} == proposed
            assert verify_audit(engine) == []
        finally:
            engine.dispose()


def test_optimizer_workers_starting_together_on_a_fresh_database(tmp_path: Path) -> None:
    with postgres_schema() as database_url:
        _seed_store(database_url)
        study_name = "fresh-" + secrets.token_hex(4)
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        try:
            reports = _run_workers([["search", database_url, study_name, str(seed), str(barrier), "3"]
                                    for seed in (1, 2, 3)])
            trials, best = _study(database_url, study_name)
        finally:
            drop_optuna_storage(database_url)
        _assert_shared(trials, best, reports)
