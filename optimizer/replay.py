"""Off-policy replay: what would a threshold policy have cost, and how well would it have done, on
turns that were routed by another policy? Pure functions over numpy arrays (built from a polars
frame by :func:`prepare`).

Actions are tiers (0 haiku, 1 sonnet, 2 opus). A *threshold policy* sends a turn to haiku below
``haiku_below`` estimated input tokens, to opus from ``opus_from`` and to sonnet in between.

Cost is counterfactual but deterministic: each turn's input side (uncached, cache write, cache
read tokens) is priced at the chosen tier's rates, and its output tokens are scaled by the ratio
of mean output tokens on the chosen tier to that of the tier that served it (tiers differ in
verbosity and in how often they truncate; each tier's mean is over the turn's prompt-size band and
request class, weighted by 1/propensity, not over the turns the routing happened to give it:
output_means).
Quality is estimated off-policy from the logged propensities:

* SNIPS: Σ w·r / Σ w with w = 1[logged = chosen] / propensity (self-normalised: bounded in [0, 1]);
* doubly robust: q̂(x, chosen) + 1[logged = chosen] / propensity · (r − q̂(x, logged)), with one
  outcome model per tier (sklearn, seeded) — unbiased if either the propensities or the model is
  right, and far lower variance than IPS when the model is decent.

Intervals are percentile bootstraps over *sessions* (optimizer.bootstrap: whole sessions drawn with
replacement, seeded), since a session's turns share a developer, a task and, under an exploration
split, a tier; the effective sample size (Σw)² / Σw² says how many logged turns actually inform the
estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from core.price_memo import PerToken
from optimizer.bootstrap import clustered_standard_error, dense, resampled_means, resampled_sums, session_codes
from optimizer.cache_switches import CacheSwitches, cache_switches
from optimizer.turn_facts import TurnFacts

TIERS = ("haiku", "sonnet", "opus")
REQUIRED = ("tokens", "tier", "propensity", "reward", "input_tokens", "output_tokens", "cache_creation_tokens",
            "cache_read_tokens")


@dataclass(frozen=True, slots=True)
class Thresholds:
    haiku_below: int  # tokens < haiku_below → haiku
    opus_from: int  # tokens ≥ opus_from → opus; sonnet in between

    def __post_init__(self) -> None:
        if not 0 <= self.haiku_below <= self.opus_from:
            raise ValueError("thresholds must satisfy 0 ≤ haiku_below ≤ opus_from")

    def actions(self, tokens: np.ndarray) -> np.ndarray:
        return (tokens >= self.haiku_below).astype(np.int8) + (tokens >= self.opus_from).astype(np.int8)


@dataclass(frozen=True, slots=True)
class ReplayData:
    """Everything an estimate needs, as aligned arrays (n turns; n × 3 for per-tier columns)."""

    tokens: np.ndarray
    logged: np.ndarray  # the tier that served each turn
    propensity: np.ndarray
    reward: np.ndarray  # 0..1
    cost: np.ndarray  # n × 3: USD of each turn on each tier
    predicted: np.ndarray  # n × 3: the outcome model's q̂(x, tier)
    days: float  # how many days the turns span (scales costs to a month)
    # session code per turn (0..k−1, see optimizer.bootstrap.session_codes), the bootstrap's unit;
    # None: every turn is its own session (the bootstrap then resamples turns)
    session: np.ndarray | None = None
    # prompt-cache locality (optimizer.cache_switches): None prices every turn with its logged cache hits
    switches: CacheSwitches | None = None
    # thinking, tools offered and repo per turn (what segment overrides select on); None: tokens only
    facts: TurnFacts | None = None

    @property
    def n(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def sessions(self) -> np.ndarray:
        return dense(self.session) if self.session is not None else np.arange(self.n, dtype=np.int64)

    def subset(self, rows: np.ndarray) -> ReplayData:
        """The turns of ``rows`` (a mask) as data of their own, ``days`` unchanged. Meant for whole
        sessions (optimizer.split): a turn whose session's previous turn is left out is priced as
        if it had none."""
        index = np.flatnonzero(rows)
        switches = None
        if self.switches is not None:
            new_row = np.full(self.n, -1, dtype=np.int64)
            new_row[index] = np.arange(index.size)
            previous = self.switches.previous[index]
            switches = CacheSwitches(np.where(previous >= 0, new_row[np.maximum(previous, 0)], -1),
                                     self.switches.extra[index], self.switches.saved[index])
        facts = None if self.facts is None else self.facts.subset(index)
        return ReplayData(self.tokens[index], self.logged[index], self.propensity[index], self.reward[index],
                          self.cost[index], self.predicted[index], self.days,
                          None if self.session is None else dense(self.session[index]), switches, facts)


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


def tier_codes(tiers: pl.Series) -> np.ndarray:
    mapping = {name: code for code, name in enumerate(TIERS)}
    return tiers.replace_strict(mapping, return_dtype=pl.Int8).to_numpy()


_BANDS = 5  # prompt-size bands for the output ratios (quantiles of the estimated input tokens)
_MIN_CELL_TURNS = 30  # a cell × tier with fewer logged turns keeps the coarser cell's mean


def output_means(out: np.ndarray, logged: np.ndarray, weight: np.ndarray, tokens: np.ndarray | None,
                 classes: np.ndarray | None = None) -> np.ndarray:
    """n × 3: each turn's expected output tokens on each tier — the tier's mean over the turns of the
    turn's cell, weighted by 1/propensity so that it stands for the whole cell, not the turns the
    routing happened to send that tier (haiku's small turns, opus's large ones).

    Cells, from coarse to fine: every turn; the prompt-size band (a weak tier truncates large turns,
    not small ones); Claude Code's request class (``classes``; None counts as main, as in
    optimizer.cache_switches); the class within the band. A cell × tier with fewer than
    ``_MIN_CELL_TURNS`` logged turns keeps the coarser cell's mean. The class matters because a
    tier's verbosity is the class's: where haiku truncates main turns at the maximum output, a band's
    haiku mean over main turns and auxiliary calls together priced an auxiliary call moved to sonnet
    at a third of its output (issue 16's request-class world: the proposal "saved" 5 points by moving
    auxiliary calls to a tier three times dearer)."""
    n = out.shape[0]

    def mean_of(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = np.array([np.sum(rows & (logged == t)) for t in range(3)])
        means = np.array([float(np.average(out[rows & (logged == t)], weights=weight[rows & (logged == t)]))
                          if counts[t] else np.nan for t in range(3)])
        means = np.where(np.isnan(means), np.nanmean(means) if np.any(~np.isnan(means)) else 1.0, means)
        return np.where(means > 0, means, 1.0), counts

    result = np.tile(mean_of(np.ones(n, dtype=bool))[0], (n, 1))
    if n == 0:
        return result
    cells: list[np.ndarray] = []
    band = None
    if tokens is not None:
        edges = np.quantile(tokens, np.linspace(0, 1, _BANDS + 1)[1:-1])
        band = np.searchsorted(edges, tokens, side="right")
        cells.append(band)
    if classes is not None:
        names = np.array([value if isinstance(value, str) else "main" for value in classes], dtype=object)
        kind = np.unique(names, return_inverse=True)[1].reshape(-1)
        cells += [kind] if band is None else [kind, kind * _BANDS + band]
    for cell in cells:
        for code in np.unique(cell):
            rows = cell == code
            means, counts = mean_of(rows)
            result[rows] = np.where(counts >= _MIN_CELL_TURNS, means, result[rows])
    return result


def cost_matrix(frame: pl.DataFrame, logged: np.ndarray, rates: Mapping[str, PerToken]) -> np.ndarray:
    """n × 3 USD: every turn priced on every tier (see the module docstring for output tokens), at the
    per-token rates of the one pricing function (core.pricing), 1-hour cache writes at their own rate."""
    out = frame["output_tokens"].to_numpy().astype(np.float64)
    weight = 1.0 / frame["propensity"].to_numpy().astype(np.float64) if "propensity" in frame.columns \
        else np.ones(out.shape[0])
    mean_out = output_means(out, logged, weight, frame["tokens"].to_numpy() if "tokens" in frame.columns else None,
                            np.array(frame["request_class"].to_list(), dtype=object)
                            if "request_class" in frame.columns else None)
    uncached = frame["input_tokens"].to_numpy().astype(np.float64)
    written = frame["cache_creation_tokens"].to_numpy().astype(np.float64)
    written_1h = frame["cache_creation_1h_tokens"].to_numpy().astype(np.float64) \
        if "cache_creation_1h_tokens" in frame.columns else np.zeros(out.shape[0])
    read = frame["cache_read_tokens"].to_numpy().astype(np.float64)
    columns = []
    for code, tier in enumerate(TIERS):
        rate = rates[tier]
        scaled_out = out * mean_out[np.arange(out.shape[0]), code] / mean_out[np.arange(out.shape[0]), logged]
        usd = (uncached * rate.input + (written - written_1h) * rate.cache_write_5m
               + written_1h * rate.cache_write_1h + read * rate.cache_read + scaled_out * rate.output)
        columns.append(usd)
    return np.column_stack(columns)


def features(tokens: np.ndarray, facts: TurnFacts | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The outcome model's inputs: log tokens, and the turn's other routing facts when known (a
    candidate that routes on thinking, tools or repo is only estimated well by a model that sees
    them); with which columns are categorical."""
    x = np.log1p(tokens.astype(np.float64)).reshape(-1, 1)
    if facts is None:
        return x, None
    more, categorical = facts.model_columns()
    return np.column_stack([x, more]), np.concatenate([[False], categorical])


def outcome_model(tokens: np.ndarray, logged: np.ndarray, reward: np.ndarray, *, seed: int,
                  facts: TurnFacts | None = None, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """q̂(x, tier) for every turn and tier: one gradient-boosted regressor per tier on the turns
    that tier served (early stopping off, so the fit is deterministic for a seed); a tier with too
    few turns falls back to its mean reward, or the overall mean. ``fit_rows`` (a mask): fit on
    those turns only and predict for all (the held-out part of a sample split then gets an
    outcome model that never saw it)."""
    x, categorical = features(tokens, facts)
    predicted = np.empty((tokens.shape[0], 3))
    fit = np.ones(tokens.shape[0], dtype=bool) if fit_rows is None else fit_rows
    # One OpenMP thread: a few features and ~10⁵ rows fit in a second or two, while the default (a
    # thread per core) slows down 5× on a machine whose cores are busy with the proxy and ingest.
    with threadpool_limits(limits=1, user_api="openmp"):
        _fit_tiers(x, categorical, logged, reward, predicted, seed, fit)
    return predicted


def _fit_tiers(x: np.ndarray, categorical: np.ndarray | None, logged: np.ndarray, reward: np.ndarray,
               predicted: np.ndarray, seed: int, fit: np.ndarray) -> None:
    overall = float(reward[fit].mean()) if fit.any() else 0.0
    for code in range(3):
        mask = (logged == code) & fit
        if mask.sum() >= 50:
            model = HistGradientBoostingRegressor(max_iter=60, learning_rate=0.1, min_samples_leaf=40,
                                                  early_stopping=False, random_state=seed,
                                                  categorical_features=categorical)
            model.fit(x[mask], reward[mask])
            predicted[:, code] = np.clip(model.predict(x), 0.0, 1.0)
        else:
            predicted[:, code] = float(reward[mask].mean()) if mask.any() else overall


def prepare(frame: pl.DataFrame, rates: Mapping[str, PerToken], *, days: float, seed: int = 0,
            cache_aware: bool = False, held_out: np.ndarray | None = None) -> ReplayData:
    """Arrays from a turns frame with the columns in ``REQUIRED`` (rows with a null in them, an
    unknown tier or a propensity outside (0, 1] are dropped) and, when it has one, ``session_id``
    (the bootstrap's unit; a frame without it, or a turn with a null, counts each turn as a session)
    and, when it has them all, ``thinking``, ``tool_count`` and ``repo`` (optimizer.turn_facts).
    ``cache_aware`` prices the prompt-cache writes a candidate's tier switches cause
    (optimizer.cache_switches; needs ``session_id`` and ``started_at``). ``held_out`` (a mask over
    the frame's rows, after the drops above: see optimizer.split): the outcome model is fitted on
    the other rows only."""
    missing = [name for name in REQUIRED if name not in frame.columns]
    if missing:
        raise ValueError(f"replay needs columns {missing}")
    frame = frame.drop_nulls(list(REQUIRED)).filter(
        pl.col("tier").is_in(TIERS) & (pl.col("propensity") > 0) & (pl.col("propensity") <= 1))
    tokens = frame["tokens"].to_numpy().astype(np.int64)
    logged = tier_codes(frame["tier"])
    reward = frame["reward"].to_numpy().astype(np.float64)
    facts = TurnFacts.from_frame(frame)
    return ReplayData(tokens=tokens, logged=logged, propensity=frame["propensity"].to_numpy().astype(np.float64),
                      reward=reward, cost=cost_matrix(frame, logged, rates),
                      predicted=outcome_model(tokens, logged, reward, seed=seed, facts=facts,
                                              fit_rows=None if held_out is None else ~held_out),
                      days=max(days, 1e-9),
                      session=session_codes(frame["session_id"] if "session_id" in frame.columns else None,
                                            frame.height),
                      switches=cache_switches(frame, rates, TIERS) if cache_aware else None, facts=facts)


def total_cost(data: ReplayData, actions: np.ndarray) -> float:
    logged_cache = float(data.cost[np.arange(data.n), actions].sum())
    if data.switches is None:
        return logged_cache
    return logged_cache + data.switches.adjustment(data.logged, actions)


def monthly(data: ReplayData, usd: float) -> float:
    return usd * 30.0 / data.days


def weights(data: ReplayData, actions: np.ndarray) -> np.ndarray:
    return (data.logged == actions) / data.propensity


def effective_sample_size(data: ReplayData, actions: np.ndarray) -> float:
    w = weights(data, actions)
    squared = float((w * w).sum())
    return float(w.sum()) ** 2 / squared if squared > 0 else 0.0


def effective_sessions(data: ReplayData, actions: np.ndarray) -> float:
    """The effective sample size counted in sessions: (Σ W)² / Σ W² over the sessions' summed weights
    W. Under a session-level exploration split a session's turns share one tier, so a thousand
    agreeing turns may be a handful of sessions' worth of evidence; this says how many."""
    per_session = np.bincount(data.sessions, weights=weights(data, actions))
    squared = float((per_session * per_session).sum())
    return float(per_session.sum()) ** 2 / squared if squared > 0 else 0.0


def dr_terms(data: ReplayData, actions: np.ndarray) -> np.ndarray:
    """Per-turn doubly robust contributions; their mean is the estimate."""
    rows = np.arange(data.n)
    return data.predicted[rows, actions] + weights(data, actions) * (data.reward - data.predicted[rows, data.logged])


def dr_term_matrix(data: ReplayData) -> np.ndarray:
    """n × 3: each turn's doubly robust term were it routed to each tier (dr_terms picks one per turn)."""
    rows = np.arange(data.n)
    residual = (data.reward - data.predicted[rows, data.logged]) / data.propensity
    terms = data.predicted.copy()
    terms[rows, data.logged] += residual
    return terms


def dr_value(data: ReplayData, actions: np.ndarray) -> float:
    return float(dr_terms(data, actions).mean())


def snips_value(data: ReplayData, actions: np.ndarray) -> float:
    w = weights(data, actions)
    total = float(w.sum())
    return float((w * data.reward).sum()) / total if total > 0 else float("nan")


def _interval(value: float, samples: np.ndarray, level: float) -> Estimate:
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return Estimate(value, float(low), float(high))


def dr_estimate(data: ReplayData, actions: np.ndarray, *, rounds: int = 200, seed: int = 0,
                level: float = 0.95) -> Estimate:
    terms = dr_terms(data, actions)
    samples = resampled_means(data.sessions, terms, rounds, np.random.default_rng(seed))
    return _interval(float(terms.mean()), samples, level)


def snips_estimate(data: ReplayData, actions: np.ndarray, *, rounds: int = 200, seed: int = 0,
                   level: float = 0.95) -> Estimate:
    w = weights(data, actions)
    sums = resampled_sums(data.sessions, np.column_stack([w * data.reward, w]), rounds, np.random.default_rng(seed))
    with np.errstate(invalid="ignore", divide="ignore"):
        samples = np.where(sums[:, 1] > 0, sums[:, 0] / sums[:, 1], np.nan)
    return _interval(snips_value(data, actions), samples, level)


def upgrade_standard_error(data: ReplayData, candidate: np.ndarray, baseline: np.ndarray) -> float:
    """The standard error the paired DR difference (candidate − baseline) would have over the turns
    the candidate moves to a *dearer* tier (TIERS order) if each of their outcomes were a coin flip
    with the outcome model's probability of success on the tier that served it:
    √(Σ (w_cand − w_base)² · q̂(1 − q̂)) / n over those turns.

    The floor under the data's own standard error, for the quality a candidate buys. A handful of
    explored turns that all succeeded show no spread, so a bootstrap or a clustered standard error
    over them is zero, however large their weights (1/propensity: 30 for a tier explored on 10 % of
    sessions). On issue 16's worlds every claim outside its interval came from such a purchase paying
    for cheaper moves elsewhere: 25 explored auxiliary calls on sonnet, all successful (the truth,
    0.97, is haiku's too), credited a proposal with +0.0045 (95 % CI +0.0003 … +0.0100) for moving
    auxiliary calls to sonnet; a size-only proposal bought +0.0026 the same way on 11 explored turns
    and was truly 2.1 % dearer. As coin flips those purchases are ±0.006 … ±0.011.

    Moves to a cheaper tier, what the optimizer is for, are left to the data's own interval and the
    explored-session minimum per move (optimizer.moves): a floor there too (measured, docs/
    generalisation.md, session 11) refuses every proposal at a thousand sessions a week, since an
    off-policy move of a share s of the turns explored at propensity π is s/π times noisier than the
    active policy's own estimate, which sets the margin. Turns are taken as independent given the
    model (within a session too).

    Where the model is as sure as a lucky cell (q̂ near 1.0, fitted to explored turns that nearly
    all succeeded), its coin flips have next to no spread either. So on each tier a candidate moves
    turns to, the spread is never below p(1 − p) at the Wilson lower bound p of what that tier's
    explored turns among the moved ones did (since session 14): k of k successes allow far less
    certainty for a few dozen turns than for thousands. On issue 16's tool-density world a move to
    opus rested on 163 explored turns with one failure (truly 0.97, a ~4 % chance of so few);
    q̂ = 0.986 claimed +0.0170 (+0.0014 … +0.0305) for a true −0.0002, and the Wilson bound, 0.966,
    refuses it. Never below the tier's *mean* spread, which knows no count, was tried and taken back
    (docs/generalisation.md, session 11)."""
    if data.n == 0:
        return float("nan")
    rows = np.flatnonzero(candidate > baseline)
    success = data.predicted[rows, data.logged[rows]]
    spread = success * (1 - success)
    # a model fitted to a lucky cell is as sure as the cell: each tier's coin never less uncertain
    # than the Wilson lower bound of what its explored turns among these did allows
    for tier in np.unique(candidate[rows]):
        served = (data.logged[rows] == tier) & (candidate[rows] == tier)
        if served.any():
            low = wilson_low(float(data.reward[rows[served]].sum()), int(served.sum()))
            spread[served] = np.maximum(spread[served], low * (1 - low))
    moved = ((data.logged[rows] == candidate[rows]).astype(np.float64)
             - (data.logged[rows] == baseline[rows])) / data.propensity[rows]
    return float(np.sqrt(float((moved * moved) @ spread))) / data.n


def wilson_low(successes: float, trials: int, z: float = 1.96) -> float:
    """The Wilson score interval's lower bound for a success rate: unlike p̂ ± z·SE it does not
    shrink to a point when every trial succeeded (25 of 25: 0.87, not 1.0)."""
    p = successes / trials
    centre = p + z * z / (2 * trials)
    width = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return float((centre - width) / (1 + z * z / trials))


def difference_lower_bound(data: ReplayData, candidate: np.ndarray, baseline: np.ndarray, z: float, *,
                           baseline_terms: np.ndarray | None = None, sessions: np.ndarray | None = None,
                           sizes: np.ndarray | None = None) -> tuple[float, float]:
    """(the paired DR difference candidate − baseline, its lower bound z standard errors down): the
    search's test, the larger of the session-clustered standard error (optimizer.bootstrap) and the
    model's over the turns moved to a dearer tier (:func:`upgrade_standard_error`). ``baseline_terms``,
    ``sessions`` (``data.sessions``) and ``sizes`` (turns per session) may be passed in when called
    many times."""
    base = dr_terms(data, baseline) if baseline_terms is None else baseline_terms
    paired = dr_terms(data, candidate) - base
    delta = float(paired.mean())
    codes = data.sessions if sessions is None else sessions
    error = max(clustered_standard_error(codes, paired, sizes=sizes),
                upgrade_standard_error(data, candidate, baseline))
    return delta, delta - z * error


def dr_difference(data: ReplayData, candidate: np.ndarray, baseline: np.ndarray, *, rounds: int = 200,
                  seed: int = 0, level: float = 0.95) -> Estimate:
    """candidate − baseline quality, bootstrapped on paired sessions (the same resample for both),
    which is far tighter than differencing two separate intervals; never narrower than ± z model
    standard errors over the turns moved to a dearer tier (:func:`upgrade_standard_error`, z for ``level``)."""
    terms = dr_terms(data, candidate) - dr_terms(data, baseline)
    samples = resampled_means(data.sessions, terms, rounds, np.random.default_rng(seed))
    found = _interval(float(terms.mean()), samples, level)
    reach = NormalDist().inv_cdf(0.5 + level / 2) * upgrade_standard_error(data, candidate, baseline)
    if not np.isfinite(reach):
        return found
    return Estimate(found.value, min(found.low, found.value - reach), max(found.high, found.value + reach))
