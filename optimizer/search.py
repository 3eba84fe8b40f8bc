"""Search the token thresholds between tiers (haiku → sonnet → opus) with Optuna.

Minimise the replayed cost subject to a quality floor: a candidate's doubly robust quality may
fall below the active policy's by at most the active estimate's confidence half-width (× slack;
never more than ``max_quality_loss``, so a wide interval from little data cannot license a large
loss), and not just on average: the *lower* bound (z standard errors, 1.96 by default) of the paired
difference (candidate − active, a normal approximation with a session-clustered standard error of
the per-turn DR terms, cheap enough for every trial) must clear it. The proposal step re-checks the
winner with a session bootstrap (optimizer.bootstrap); both treat sessions, not turns, as the
independent units.

The study starts from the active thresholds and a coarse grid (enqueued), then TPE, then a short
polish: the neighbours of each of a few cheap feasible trials in different places (each threshold,
and both together, moved by shrinking steps in log tokens) are enqueued into the same study, so the
answer does not depend on TPE landing exactly on the thin ridge of cheap feasible thresholds. The
floor is a penalty, not Optuna's ``constraints_func`` (experimental, it warns): an infeasible trial
costs more than any feasible one, by how far it misses the floor, so TPE learns where it lies.

The active policy's thresholds are enqueued as the first trial, so the search can only improve
on it. Storage is Optuna's RDB storage on the project's database when a URL is given (workers on
PostgreSQL share one study), in memory otherwise. The sampler is seeded: same data, same seed,
same study.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from optimizer.bootstrap import clustered_standard_error
from optimizer.replay import Estimate, ReplayData, Thresholds, dr_estimate, dr_terms, total_cost

Progress = Callable[[int, int], None]  # (trials done, trials in all)
_GRID = (8, 6)  # haiku thresholds × sonnet band widths enqueued before TPE
_STARTS = 3  # the polish starts from this many cheap feasible trials in different places
_STEPS = (0.4, 0.2, 0.1, 0.05, 0.02)  # polish moves, in log tokens
_MOVES = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))
_PENALTY = 1_000.0  # cost multiplier per unit of quality below the floor (quality is 0..1)


@dataclass(frozen=True, slots=True)
class Trial:
    thresholds: Thresholds
    cost: float  # USD over the replayed turns
    quality: float  # doubly robust point estimate
    feasible: bool
    delta_low: float = 0.0  # lower bound (z session-clustered standard errors) of quality − the baseline's


@dataclass(frozen=True, slots=True)
class SearchResult:
    baseline: Thresholds
    baseline_quality: Estimate
    baseline_cost: float
    floor: float  # the baseline's quality − margin (for reports)
    margin: float  # how far below the baseline a candidate's lower bound may go
    z: float  # standard errors below the point estimate: the lower bound the floor applies to
    trials: tuple[Trial, ...]  # every trial, in order

    def feasible_by_cost(self) -> list[Trial]:
        """Feasible trials, cheapest first, each thresholds pair once."""
        seen: set[Thresholds] = set()
        ordered = []
        for trial in sorted(self.trials, key=lambda t: (t.cost, -t.quality)):
            if trial.feasible and trial.thresholds not in seen:
                seen.add(trial.thresholds)
                ordered.append(trial)
        return ordered


# Workers starting together on a fresh database would race to create the schema and Optuna's tables
# (IF NOT EXISTS is not safe against a concurrent creator); this lock makes them take turns.
_SETUP_LOCK = "hashtext('switchyard-optuna-setup')"


def storage_url(database_url: str) -> str:
    """Where the study lives, next to the project's data but apart from its tables: Optuna keeps
    its own Alembic ``alembic_version`` table, which would clash with ours. On PostgreSQL that is a
    sibling schema (``<schema>_optuna``, or ``optuna``) of the same database, so workers share the
    study; on SQLite a sibling file (``<name>.optuna.sqlite3``)."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            url = url.set(database=str(Path(url.database).with_suffix(".optuna.sqlite3")))
        return url.render_as_string(hide_password=False)
    options = str(url.query.get("options", ""))
    current = re.search(r"-csearch_path=([A-Za-z0-9_]+)", options)
    schema = f"{current.group(1)}_optuna" if current else "optuna"
    rest = re.sub(r"-csearch_path=[A-Za-z0-9_,]+", "", options).strip()
    url = url.update_query_dict({"options": f"{rest} -csearch_path={schema}".strip()})
    admin = create_engine(url.set(query={k: v for k, v in url.query.items() if k != "options"}))
    try:
        with admin.begin() as connection:
            connection.execute(text(f"SELECT pg_advisory_xact_lock({_SETUP_LOCK})"))
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        admin.dispose()
    return url.render_as_string(hide_password=False)


def _storage(database_url: str | None) -> optuna.storages.BaseStorage:
    if database_url is None:
        return optuna.storages.InMemoryStorage()
    url = storage_url(database_url)
    if make_url(url).get_backend_name() != "postgresql":
        return optuna.storages.RDBStorage(url)
    admin = create_engine(make_url(url).set(query={}))
    try:
        with admin.connect() as connection:
            connection.execute(text(f"SELECT pg_advisory_lock({_SETUP_LOCK})"))
            try:
                return optuna.storages.RDBStorage(url)  # creates the tables when they are missing
            finally:
                connection.execute(text(f"SELECT pg_advisory_unlock({_SETUP_LOCK})"))
                connection.commit()
    finally:
        admin.dispose()


def _starts(found: list[Trial]) -> list[Trial]:
    """The cheapest feasible trials, at most ``_STARTS``, no two within 0.5 log tokens of each other
    on both thresholds (a lone start can sit in a local dip of the cost ridge)."""
    chosen: list[Trial] = []
    for trial in sorted((t for t in found if t.feasible), key=lambda t: t.cost):
        if all(abs(np.log(trial.thresholds.haiku_below / c.thresholds.haiku_below)) > 0.5
               or abs(np.log(trial.thresholds.opus_from / c.thresholds.opus_from)) > 0.5 for c in chosen):
            chosen.append(trial)
        if len(chosen) == _STARTS:
            break
    return chosen


def search(data: ReplayData, baseline: Thresholds, *, trials: int = 300, seed: int = 0,
           database_url: str | None = None, study_name: str | None = None, slack: float = 1.0, z: float = 1.96,
           max_quality_loss: float | None = 0.01,
           bootstrap_rounds: int = 200, polish: int = 3, progress: Progress | None = None) -> SearchResult:
    """Run the study. A candidate is feasible when quality − baseline quality, less ``z`` standard
    errors, is at least −(slack × the baseline's 95% half-width, at most ``max_quality_loss``);
    ``z=0`` trusts point estimates."""
    baseline_actions = baseline.actions(data.tokens)
    baseline_quality = dr_estimate(data, baseline_actions, rounds=bootstrap_rounds, seed=seed)
    margin = slack * baseline_quality.half_width
    if max_quality_loss is not None:
        # a wide interval (little data) must not license a large loss: the margin is capped
        margin = min(margin, max_quality_loss)
    baseline_terms = dr_terms(data, baseline_actions)
    sessions = data.sessions
    sizes = np.bincount(sessions)
    low = max(1, int(data.tokens.min()))
    high = max(low + 1, int(data.tokens.max()) + 1)  # at the top: "this tier is never used"
    span = float(np.log(high / low))
    found: list[Trial] = []

    def objective(trial: optuna.Trial) -> float:
        # (haiku threshold, width of the sonnet band in log tokens) rather than two thresholds: the
        # cheap region is "move both together", which this makes a straight line for TPE
        below = trial.suggest_int("haiku_below", low, high, log=True)
        band = trial.suggest_float("sonnet_band", 0.0, span)
        thresholds = Thresholds(below, int(min(high, round(below * np.exp(band)))))
        actions = thresholds.actions(data.tokens)
        paired = dr_terms(data, actions) - baseline_terms
        delta = float(paired.mean())
        lower = delta - z * clustered_standard_error(sessions, paired, sizes=sizes)
        cost, quality = total_cost(data, actions), baseline_quality.value + delta
        feasible = lower >= -margin
        found.append(Trial(thresholds, cost, quality, feasible, lower))
        trial.set_user_attr("quality", quality)
        trial.set_user_attr("cost", cost)
        shortfall = 0.0 if feasible else -margin - lower
        return cost * (1.0 + _PENALTY * shortfall) + (0.0 if feasible else 1e-9)

    storage = _storage(database_url)
    try:
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(20, max(1, trials // 5)))
        study = optuna.create_study(storage=storage, sampler=sampler, direction="minimize",
                                    study_name=study_name, load_if_exists=study_name is not None)
        start = int(np.clip(baseline.haiku_below, low, high))
        study.enqueue_trial({"haiku_below": start,
                             "sonnet_band": float(np.clip(np.log(max(baseline.opus_from, start) / start), 0.0, span))})
        # a coarse grid first, so TPE starts from a map of the whole space rather than a few random
        # points (the cheap feasible region is a thin ridge that random starts can miss)
        for below in np.exp(np.linspace(np.log(low), np.log(high), _GRID[0])):
            for band in np.linspace(0.0, span, _GRID[1]):
                study.enqueue_trial({"haiku_below": round(float(below)), "sonnet_band": float(band)})
        trials = max(trials, _GRID[0] * _GRID[1] + 1)
        total = trials + _STARTS * polish * len(_STEPS) * len(_MOVES)  # an upper bound
        callbacks = []
        if progress is not None:
            callbacks.append(lambda _study, _trial: progress(len(found), total))
        study.optimize(objective, n_trials=trials, callbacks=callbacks)
        for origin in _starts(found):
            best = origin
            for step in _STEPS:
                for _ in range(polish):
                    before = len(found)
                    for move in _MOVES:
                        below = int(np.clip(round(best.thresholds.haiku_below * np.exp(move[0] * step)), low, high))
                        start = int(np.clip(round(best.thresholds.opus_from * np.exp(move[1] * step)), below, high))
                        study.enqueue_trial({"haiku_below": below, "sonnet_band": float(np.log(start / below))})
                    study.optimize(objective, n_trials=len(_MOVES), callbacks=callbacks)
                    better = min((t for t in found[before:] if t.feasible), key=lambda t: t.cost, default=None)
                    if better is None or better.cost >= best.cost:
                        break  # no neighbour at this step is cheaper: go finer
                    best = better
    finally:
        if isinstance(storage, optuna.storages.RDBStorage):
            storage.remove_session()
            storage.engine.dispose()  # its pool would outlive the call otherwise
    baseline_trial = Trial(baseline, total_cost(data, baseline_actions), baseline_quality.value, True)
    return SearchResult(baseline, baseline_quality, baseline_trial.cost, baseline_quality.value - margin, margin,
                        z, (baseline_trial, *found))
