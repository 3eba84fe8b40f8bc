"""One optimizer worker, as a process, sharing an Optuna study on the store's PostgreSQL. It prints,
as JSON, the trials *this* worker ran (the study does not say which worker ran a trial).

    python -m tests.scale.optuna_worker propose DATABASE_URL STUDY SEED
        what `switchyard optimize --shared-study STUDY` does: propose() on the store (without the
        polish rounds after the grid, to keep the test short).
    python -m tests.scale.optuna_worker search DATABASE_URL STUDY SEED BARRIER_DIR WORKERS
        the same data and search, but the search (which opens the study's storage) starts only
        when WORKERS workers are ready (a file each in BARRIER_DIR), so all of them reach a fresh
        database at the same moment.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import optuna

import optimizer.propose
from bench.optimizer_world import START
from core.pricing import builtin_price_table
from optimizer.candidate import thresholds_of
from optimizer.features import load_turns
from optimizer.propose import Settings, propose, tier_rates
from optimizer.replay import prepare
from optimizer.search import search
from store.engine import make_engine
from store.policies import active_policy

TRIALS = 49  # the search's floor: the baseline and its coarse grid
END = START + timedelta(days=7)


def _record_trials(ran: list[tuple[int, float | None]]) -> None:
    """Add a callback noting each finished trial to every ``Study.optimize`` call in this process."""
    original = optuna.study.Study.optimize

    def optimize(self: optuna.study.Study, func: Any, **kwargs: Any) -> None:
        def note(_study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> None:
            ran.append((trial.number, trial.value))

        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), note]
        original(self, func, **kwargs)

    optuna.study.Study.optimize = optimize  # type: ignore[method-assign]


def run_propose(database_url: str, study_name: str, seed: int) -> dict[str, Any]:
    # the search as propose() runs it, without the polish rounds after the grid: a shorter test
    optimizer.propose.search = partial(search, polish=0)  # type: ignore[attr-defined]
    engine = make_engine(database_url)
    try:
        settings = Settings(start=START, end=END, seed=seed, trials=TRIALS, min_ess=100.0, bootstrap_rounds=50,
                            z=0.0, database_url=database_url, study_name=study_name)
        outcome = propose(engine, builtin_price_table(), settings, actor=f"optimizer:worker-{seed}")
    finally:
        engine.dispose()
    return {"reason": outcome.reason, "proposal": None if outcome.proposal is None else outcome.proposal.id}


def _barrier(directory: Path, name: str, parties: int, timeout_s: float = 30.0) -> None:
    (directory / name).touch()
    deadline = time.monotonic() + timeout_s
    while len(list(directory.iterdir())) < parties:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(list(directory.iterdir()))} of {parties} workers became ready")
        time.sleep(0.001)


def run_search(database_url: str, study_name: str, seed: int, barrier: Path, parties: int) -> dict[str, Any]:
    prices = builtin_price_table()
    engine = make_engine(database_url)
    try:  # what propose() does before its search
        active = active_policy(engine)
        assert active is not None
        policy = active.policy()
        loaded = load_turns(engine, prices, START, END)
    finally:
        engine.dispose()
    data = prepare(loaded.frame, tier_rates(policy, prices, END), days=loaded.days, seed=seed)
    _barrier(barrier, str(seed), parties)
    search(data, thresholds_of(policy), trials=TRIALS, seed=seed, database_url=database_url, study_name=study_name,
           z=0.0, bootstrap_rounds=20, polish=0)
    return {}


def main(argv: list[str]) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ran: list[tuple[int, float | None]] = []
    _record_trials(ran)
    mode, database_url, study_name, seed = argv[0], argv[1], argv[2], int(argv[3])
    if mode == "propose":
        report = run_propose(database_url, study_name, seed)
    else:
        report = run_search(database_url, study_name, seed, Path(argv[4]), int(argv[5]))
    print(json.dumps({"trials": ran, **report}))


if __name__ == "__main__":
    main(sys.argv[1:])
