"""Search the token thresholds between tiers (haiku → sonnet → opus), and the thresholds of segment
overrides (optimizer.segments: request class, agent type, thinking, tool-dense requests, teams,
developer tiers, busy repos — those where the tiers compare differently), with Optuna. With a
sample split (optimizer.split) it sees only the selection part of the sessions.

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

The parameters are searched block by block (block coordinate descent): the base pair, then each
segment's pair with the others held at the best found so far, and round again while that still
finds a cheaper feasible policy. Each block is two dimensions, where a grid, TPE and the polish
map the ridge reliably; searching every pair at once would be 2 × (1 + segments) dimensions, which
a few hundred TPE trials cannot cover. Each block's study starts from the best so far, so the
search can only improve on the active policy (whose thresholds are the first trial).

Storage is Optuna's RDB storage on the project's database when a URL is given (workers on
PostgreSQL share one study), in memory otherwise. The sampler is seeded: same data, same seed,
same study.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from optimizer.lagrange import BlockMap, block_map
from optimizer.replay import (
    Estimate,
    ReplayData,
    Thresholds,
    difference_lower_bound,
    dr_estimate,
    dr_term_matrix,
    dr_terms,
    total_cost,
)
from optimizer.segments import (
    TIER_THRESHOLDS,
    RoutingParams,
    Segment,
    candidate_segments,
    differing,
    with_segments,
)

Progress = Callable[[int, int], None]  # (trials done, trials in all)
_GRID = (8, 6)  # haiku thresholds × sonnet band widths enqueued before TPE (the base block)
_SEGMENT_GRID = (5, 4)  # the same for a segment's block (its turns are fewer, its ridge simpler)
_STARTS = 3  # the polish starts from this many cheap feasible trials in different places
_STEPS = (0.4, 0.2, 0.1, 0.05, 0.02)  # polish moves, in log tokens
_MOVES = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))
_PENALTY = 1_000.0  # cost multiplier per unit of quality below the floor (quality is 0..1)
_PRICES = (16, 24)  # quality prices enqueued on a grid, then TPE trials, in the Lagrangian study
_PRICE_RANGE = (1e-3, 1e3)  # quality price, in multiples of the baseline's mean cost per turn


@dataclass(frozen=True, slots=True)
class Trial:
    params: RoutingParams
    cost: float  # USD over the replayed turns
    quality: float  # doubly robust point estimate
    feasible: bool
    delta_low: float = 0.0  # lower bound (z session-clustered standard errors) of quality − the baseline's


@dataclass(frozen=True, slots=True)
class SearchResult:
    baseline: RoutingParams  # the active policy's (without the segments the search added)
    baseline_quality: Estimate
    baseline_cost: float
    floor: float  # the baseline's quality − margin (for reports)
    margin: float  # how far below the baseline a candidate's lower bound may go
    z: float  # standard errors below the point estimate: the lower bound the floor applies to
    trials: tuple[Trial, ...]  # every trial, in order

    def feasible_by_cost(self) -> list[Trial]:
        """Feasible trials, cheapest first, each policy once (overrides that route like the base are
        dropped before comparing)."""
        seen: set[RoutingParams] = set()
        ordered = []
        for trial in sorted(self.trials, key=lambda t: (t.cost, -t.quality)):
            effective = trial.params.effective()
            if trial.feasible and effective not in seen:
                seen.add(effective)
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


def _starts(found: list[Trial], block: int) -> list[Trial]:
    """The cheapest feasible trials, at most ``_STARTS``, no two within 0.5 log tokens of each other
    on both of the block's thresholds (a lone start can sit in a local dip of the cost ridge)."""
    chosen: list[Thresholds] = []
    trials: list[Trial] = []
    for trial in sorted((t for t in found if t.feasible), key=lambda t: t.cost):
        mine = trial.params.block(block)
        if all(abs(np.log(max(mine.haiku_below, 1) / max(c.haiku_below, 1))) > 0.5
               or abs(np.log(max(mine.opus_from, 1) / max(c.opus_from, 1))) > 0.5 for c in chosen):
            chosen.append(mine)
            trials.append(trial)
        if len(chosen) == _STARTS:
            break
    return trials


@dataclass(slots=True)
class _Space:
    """What every block's study shares: the data, the baseline's DR terms, the floor and the
    bounds of the thresholds (in tokens)."""

    data: ReplayData
    baseline_actions: np.ndarray
    baseline_terms: np.ndarray
    margin: float
    z: float
    low: int
    high: int
    found: list[Trial]
    # each turn's session code and the turns per session: every trial needs them, computed once
    sessions: np.ndarray
    sizes: np.ndarray
    # the tiers the policy has a target on: the only ones a written rule can route to
    tiers: tuple[int, ...] = (0, 1, 2)

    @property
    def span(self) -> float:
        return float(np.log(self.high / self.low))

    @property
    def band_span(self) -> float:
        """The widest sonnet band: none when the policy has no sonnet target (the thresholds then
        move together, and the written policy needs no sonnet rule)."""
        return self.span if 1 in self.tiers else 0.0

    def evaluate(self, params: RoutingParams, actions: np.ndarray) -> Trial:
        data = self.data
        delta, lower = difference_lower_bound(data, actions, self.baseline_actions, self.z,
                                              baseline_terms=self.baseline_terms, sessions=self.sessions,
                                              sizes=self.sizes)
        trial = Trial(params, total_cost(data, actions), float(self.baseline_terms.mean()) + delta,
                      lower >= -self.margin, lower)
        self.found.append(trial)
        return trial

    def penalised(self, trial: Trial) -> float:
        shortfall = 0.0 if trial.feasible else -self.margin - trial.delta_low
        return trial.cost * (1.0 + _PENALTY * shortfall) + (0.0 if trial.feasible else 1e-9)

    def thresholds(self, below: int, band: float) -> Thresholds:
        return Thresholds(below, int(min(self.high, round(below * np.exp(band)))))

    def point(self, thresholds: Thresholds) -> dict[str, float]:
        below = int(np.clip(thresholds.haiku_below, self.low, self.high))
        start = int(np.clip(thresholds.opus_from, below, self.high))
        return {"haiku_below": below, "sonnet_band": float(np.clip(np.log(start / below), 0.0, self.band_span))}


def _search_block(space: _Space, study: optuna.Study, current: RoutingParams, actions: np.ndarray, block: int,
                  rows: np.ndarray, *, trials: int, grid: tuple[int, int], polish: int,
                  callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]]) -> list[Trial]:
    """One block's trials: the block's thresholds move, everything else stays at ``current``. Its
    parameters are named after the block (``haiku_below``, ``sonnet_band`` for the base;
    ``thinking.haiku_below`` …), so every block's trials live in the one study."""
    tokens = space.data.tokens[rows]
    blocked = current.haiku_blocked(space.data.facts, space.data.n)
    mine: list[Trial] = []
    prefix = "" if block < 0 else current.overrides[block].segment.slug + "."
    below_name, band_name = prefix + "haiku_below", prefix + "sonnet_band"

    def named(point: dict[str, float]) -> dict[str, float]:
        return {below_name: point["haiku_below"], band_name: point["sonnet_band"]}

    def objective(trial: optuna.Trial) -> float:
        # (haiku threshold, width of the sonnet band in log tokens) rather than two thresholds: the
        # cheap region is "move both together", which this makes a straight line for TPE
        thresholds = space.thresholds(trial.suggest_int(below_name, space.low, space.high, log=True),
                                      trial.suggest_float(band_name, 0.0, space.band_span))
        moved = actions.copy()
        moved[rows] = thresholds.actions(tokens)
        if blocked is not None:  # the haiku rule's other predicates send these on to sonnet
            moved[blocked & (moved == 0)] = 1
        found = space.evaluate(current.with_block(block, thresholds), moved)
        mine.append(found)
        trial.set_user_attr("quality", found.quality)
        trial.set_user_attr("cost", found.cost)
        return space.penalised(found)

    study.enqueue_trial(named(space.point(current.block(block))))
    # a coarse grid first, so TPE starts from a map of the whole space rather than a few random
    # points (the cheap feasible region is a thin ridge that random starts can miss)
    for below in np.exp(np.linspace(np.log(space.low), np.log(space.high), grid[0])):
        for band in np.unique(np.linspace(0.0, space.band_span, grid[1])):
            study.enqueue_trial(named({"haiku_below": round(float(below)), "sonnet_band": float(band)}))
    study.optimize(objective, n_trials=max(trials, grid[0] * grid[1] + 1), callbacks=callbacks)
    for origin in _starts(mine, block):
        best = origin
        for step in _STEPS:
            for _ in range(polish):
                before = len(mine)
                at = best.params.block(block)
                for move in _MOVES:
                    moved = Thresholds(min(at.haiku_below, at.opus_from), at.opus_from)
                    below = int(np.clip(round(moved.haiku_below * np.exp(move[0] * step)), space.low, space.high))
                    start = int(np.clip(round(moved.opus_from * np.exp(move[1] * step)), below, space.high))
                    study.enqueue_trial(named(space.point(Thresholds(below, start))))
                study.optimize(objective, n_trials=len(_MOVES), callbacks=callbacks)
                better = min((t for t in mine[before:] if t.feasible), key=lambda t: t.cost, default=None)
                if better is None or better.cost >= best.cost:
                    break  # no neighbour at this step is cheaper: go finer
                best = better
    return mine


def _route_block(space: _Space, current: RoutingParams, actions: np.ndarray, block: int,
                 rows: np.ndarray) -> list[Trial]:
    """A re-routable rule's block: its turns whole to each tier (three trials, no study)."""
    mine = []
    for tier in space.tiers:
        thresholds = TIER_THRESHOLDS[tier]
        moved = actions.copy()
        moved[rows] = tier
        mine.append(space.evaluate(current.with_block(block, thresholds), moved))
    return mine


def _lagrangian(space: _Space, study: optuna.Study, current: RoutingParams, governing: np.ndarray,
                baseline_cost: float, callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]]) \
        -> list[Trial]:
    """Every block's thresholds at once for a price on quality (optimizer.lagrange), the price
    searched by a one-dimensional study; each combination is judged exactly."""
    data = space.data
    terms, blocks = dr_term_matrix(data), [-1, *range(len(current.overrides))]
    cost = data.cost
    blocked = current.haiku_blocked(data.facts, data.n)
    if blocked is not None:  # for turns kept off haiku, "haiku" is sonnet: price and score them so
        terms, cost = terms.copy(), cost.copy()
        terms[blocked, 0], cost[blocked, 0] = terms[blocked, 1], cost[blocked, 1]
    def mapped(block: int) -> BlockMap:
        rows = governing == block
        if block >= 0 and current.overrides[block].segment.kind == "rule":  # one tier for all its turns
            tiers = list(space.tiers)
            return BlockMap(tuple(TIER_THRESHOLDS[t] for t in tiers), cost[rows].sum(axis=0)[tiers],
                            terms[rows].sum(axis=0)[tiers])
        return block_map(data.tokens[rows], cost[rows], terms[rows], low=space.low, high=space.high,
                         sonnet=1 in space.tiers)

    maps = {block: mapped(block) for block in blocks}
    per_turn = baseline_cost / max(data.n, 1)
    mine: list[Trial] = []

    def objective(trial: optuna.Trial) -> float:
        price = per_turn * trial.suggest_float("price", *_PRICE_RANGE, log=True)
        params = current
        for block in blocks:
            params = params.with_block(block, maps[block].best(price))
        found = space.evaluate(params, params.actions(data.tokens, data.facts))
        mine.append(found)
        return space.penalised(found)

    for price in np.geomspace(*_PRICE_RANGE, _PRICES[0]):
        study.enqueue_trial({"price": float(price)})
    study.optimize(objective, n_trials=sum(_PRICES), callbacks=callbacks)
    return mine


def search(data: ReplayData, baseline: Thresholds | RoutingParams, *, trials: int = 300, seed: int = 0,
           database_url: str | None = None, study_name: str | None = None, slack: float = 1.0, z: float = 1.96,
           max_quality_loss: float | None = 0.01, segments: Sequence[Segment] | None = None,
           segment_trials: int | None = None, rounds: int = 2,
           bootstrap_rounds: int = 200, polish: int = 3, progress: Progress | None = None,
           developer_tiers: Mapping[str, str] | None = None,
           baseline_half_width: float | None = None, tiers: Sequence[int] = (0, 1, 2)) -> SearchResult:
    """Run the study. A candidate is feasible when quality − baseline quality, less ``z`` standard
    errors, is at least −(slack × the baseline's 95% half-width, at most ``max_quality_loss``);
    ``z=0`` trusts point estimates. ``segments`` (None: optimizer.segments.candidate_segments of the
    data that pass optimizer.segments.differing) get overrides of their own, searched with
    ``segment_trials`` trials a block (a third of ``trials`` by default) for at most ``rounds`` rounds
    over the blocks; ``developer_tiers`` (developer → tier name) adds a segment per developer tier;
    ``tiers`` the tiers (0 haiku, 1 sonnet, 2 opus) the policy has a target on: a re-routable rule
    is sent only to one of them (its written route is that tier's target), and without sonnet no
    block opens a sonnet band (its rule would have nowhere to route)."""
    start = RoutingParams.of(baseline)
    if segments is None:
        segments = differing(candidate_segments(data.tokens, data.facts, data.sessions,
                                                developer_tiers=developer_tiers),
                             dr_term_matrix(data), data.facts, data.sessions)
        # a segment all of whose turns a re-routable rule routes would govern nothing (the rule
        # comes first) and its rules could never fire; the rule's turns are a block already, whose
        # tier is searched whenever the rule routed any, with no contrast test
        caught = start.caught(data.facts, data.n)
        segments = [*(s for s in segments if (s.mask(data.facts, data.n) & ~caught).any()),
                    *(Segment.rule(rule.name) for rule in start.rules
                      if Segment.rule(rule.name).mask(data.facts, data.n).any())]
    baseline_actions = start.actions(data.tokens, data.facts)
    baseline_quality = dr_estimate(data, baseline_actions, rounds=bootstrap_rounds, seed=seed)
    # the active policy's half-width on the whole window when given (a sample split's selection part
    # alone would widen it by √2 and so loosen the floor: the allowed loss is not the split's to grow)
    margin = slack * (baseline_quality.half_width if baseline_half_width is None else baseline_half_width)
    if max_quality_loss is not None:
        # a wide interval (little data) must not license a large loss: the margin is capped
        margin = min(margin, max_quality_loss)
    low = max(1, int(data.tokens.min()))
    high = max(low + 1, int(data.tokens.max()) + 1)  # at the top: "this tier is never used"
    sessions = data.sessions
    space = _Space(data, baseline_actions, dr_terms(data, baseline_actions), margin, z, low, high, [],
                   sessions, np.bincount(sessions), tuple(sorted(set(tiers))))
    current = with_segments(start, segments)  # routes exactly like the baseline
    governing = current.governing(data.facts, data.n)
    blocks = [-1, *range(len(current.overrides))]
    segment_trials = segment_trials if segment_trials is not None else max(_SEGMENT_GRID[0] * _SEGMENT_GRID[1] + 1,
                                                                           trials // 3)
    per_polish = _STARTS * polish * len(_STEPS) * len(_MOVES)
    # an upper bound on the trials, for the progress bar
    total = sum(_PRICES) + rounds * (trials + (len(blocks) - 1) * segment_trials + len(blocks) * per_polish)
    callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = []
    if progress is not None:
        callbacks.append(lambda _study, _trial: progress(len(space.found), total))
    storage = _storage(database_url)
    best = space.evaluate(current, baseline_actions.copy())
    try:
        # one study for every block (each block's parameters have names of their own): workers
        # sharing a study name share all of it. Every block enqueues its own start and grid, so the
        # sampler's start-up trials only matter for the first.
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(20, max(1, trials // 5)))
        study = optuna.create_study(storage=storage, sampler=sampler, direction="minimize", study_name=study_name,
                                    load_if_exists=study_name is not None)
        if current.overrides:
            found = _lagrangian(space, study, current, governing, best.cost, callbacks)
            best = min((t for t in found if t.feasible), key=lambda t: t.cost, default=best)
        for _ in range(rounds):
            cost_before = best.cost
            for block in blocks:
                base_block = block < 0
                if not base_block and current.overrides[block].segment.kind == "rule":
                    mine = _route_block(space, best.params, best.params.actions(data.tokens, data.facts), block,
                                        governing == block)
                    cheaper = min((t for t in mine if t.feasible), key=lambda t: t.cost, default=None)
                    if cheaper is not None and cheaper.cost < best.cost:
                        best = cheaper
                    continue
                mine = _search_block(space, study, best.params, best.params.actions(data.tokens, data.facts), block,
                                     governing == block, trials=trials if base_block else segment_trials,
                                     grid=_GRID if base_block else _SEGMENT_GRID, polish=polish,
                                     callbacks=callbacks)
                cheaper = min((t for t in mine if t.feasible), key=lambda t: t.cost, default=None)
                if cheaper is not None and cheaper.cost < best.cost:
                    best = cheaper
            if not current.overrides or best.cost >= cost_before:
                break  # a round that found nothing cheaper: another would not either
    finally:
        if isinstance(storage, optuna.storages.RDBStorage):
            storage.remove_session()
            storage.engine.dispose()  # its pool would outlive the call otherwise
    baseline_trial = Trial(start, total_cost(data, baseline_actions), baseline_quality.value, True)
    return SearchResult(start, baseline_quality, baseline_trial.cost, baseline_quality.value - margin, margin,
                        z, (baseline_trial, *space.found))
