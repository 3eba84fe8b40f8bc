"""The session (cluster) bootstrap and the session-clustered standard error. Pure (numpy;
polars only to read session ids).

Turns of one Claude Code session are not independent: the same developer, repo and task, and under
an exploration split the same tier for every turn (the split picks by the session's hash). Treating
them as independent draws makes intervals too narrow by about √(turns per session) when a session's
turns move together. So the unit of resampling is the session: each bootstrap round draws as many
sessions as there are, with replacement, and takes all of their turns.

Done efficiently: every quantity is summed per session once (``np.bincount``); a round is then a
vector of how many times each session was drawn, and the round's sums are that vector's dot product
with the per-session sums. Ratio estimators (a mean over a varying number of turns, SNIPS's
Σw·r / Σw) are ratios of two such sums, exactly as if the drawn turns had been concatenated.

Sessions are assumed independent of each other. A turn without a session id is its own session;
with every turn its own session this is the ordinary bootstrap over turns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl


def session_codes(sessions: pl.Series | Sequence[str | None] | None, n: int) -> np.ndarray:
    """Integer codes 0..k−1, one per turn, equal for turns of the same session (numbered in the
    order of their ids); a missing id (null, or no column at all) gets a code of its own."""
    if sessions is None:
        return np.arange(n, dtype=np.int64)
    series = sessions if isinstance(sessions, pl.Series) else pl.Series(list(sessions), dtype=pl.String)
    if series.len() != n:
        raise ValueError(f"{series.len()} session ids for {n} turns")
    ranks = series.cast(pl.String).rank("dense")  # 1..k, null stays null
    missing = ranks.is_null().to_numpy()
    codes = ranks.fill_null(0).to_numpy().astype(np.int64) - 1
    known = int(codes.max()) + 1 if n else 0
    codes[missing] = known + np.arange(int(missing.sum()), dtype=np.int64)
    return codes


def dense(codes: np.ndarray) -> np.ndarray:
    """``codes`` renumbered 0..k−1 without gaps (an unused code would be an empty session drawn
    like any other); returned as they are when they already are."""
    codes = np.asarray(codes)
    if codes.size == 0 or (codes.min() >= 0 and np.issubdtype(codes.dtype, np.integer)
                           and bool(np.bincount(codes).all())):
        return codes.astype(np.int64, copy=False)
    return np.unique(codes, return_inverse=True)[1].reshape(-1).astype(np.int64)


def per_session(codes: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """k × m: each column (n, or n × m) summed over each session's turns."""
    k = int(codes.max()) + 1 if codes.size else 0
    matrix = columns.reshape(codes.size, -1)
    return np.column_stack([np.bincount(codes, weights=matrix[:, j], minlength=k) for j in range(matrix.shape[1])])


def resampled_sums(codes: np.ndarray, columns: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """rounds × m: the column sums over each round's resample of sessions (k drawn with replacement
    out of k). Deterministic for the generator's state."""
    sums = per_session(codes, columns)
    k = sums.shape[0]
    out = np.zeros((rounds, sums.shape[1]))
    if k == 0:
        return out
    for index in range(rounds):
        # how many times each session was drawn; one round at a time (rounds × k at once is the
        # memory of a turn-level bootstrap when every turn is its own session, and no faster)
        out[index] = np.bincount(rng.integers(0, k, size=k), minlength=k) @ sums
    return out


def resampled_means(codes: np.ndarray, values: np.ndarray, rounds: int, rng: np.random.Generator) -> np.ndarray:
    """The mean of ``values`` over each round's resampled turns (sessions drawn, all their turns)."""
    sums = resampled_sums(codes, np.column_stack([values, np.ones_like(values, dtype=np.float64)]), rounds, rng)
    with np.errstate(invalid="ignore", divide="ignore"):
        means: np.ndarray = sums[:, 0] / sums[:, 1]
    return means


def clustered_standard_error(codes: np.ndarray, values: np.ndarray, *, sizes: np.ndarray | None = None) -> float:
    """Standard error of mean(values) with sessions as the independent units: the between-session
    variance of the per-session residual sums (linearisation of Σ/n; the usual k/(k − 1) correction).
    With one turn per session it is the sample standard deviation / √n. ``sizes`` (turns per session,
    ``np.bincount(codes)``) may be passed in when called many times."""
    n = values.size
    if n == 0:
        return float("nan")
    k = int(codes.max()) + 1
    if k < 2:
        return float("nan")
    counts = np.bincount(codes, minlength=k) if sizes is None else sizes
    mean = float(values.mean())
    residual = np.bincount(codes, weights=values, minlength=k) - mean * counts
    return float(np.sqrt(k / (k - 1) * float(residual @ residual)) / n)
