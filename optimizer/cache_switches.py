"""Prompt-cache locality in the cost replay. Anthropic's prompt cache is per model: the first turn of
a session on a tier it was not on before writes the whole prompt again (cache-write price) instead of
reading it (cache-read price, a tenth of input). A candidate that moves a threshold moves the turns
at which sessions switch tiers, so pricing every turn with the cache hits it had when logged
overstates the saving of a candidate that switches more (measured on the simulated fleet: claimed
≈ 11 %, realised ≈ 5 %).

For each turn with an earlier turn of its session started at most five minutes before (the cache's
lifetime), the replay compares the candidate's tier change at that turn with the logged one:

* the candidate switches where the log did not: the turn's cache reads become writes;
* the candidate stays where the log switched: the part of the turn's cache writes that the previous
  prompt covers (at most its size) becomes reads.

Other turns are priced as logged. What follows a switch (the new tier's cache, warm from then on)
is already what the log shows. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from core.price_memo import PerToken

CACHE_LIFETIME_S = 300.0


@dataclass(frozen=True, slots=True)
class CacheSwitches:
    previous: np.ndarray  # the row of the session's previous turn (within the cache's lifetime), −1 if none
    extra: np.ndarray  # n × 3 USD added on each tier when only the candidate switches at the turn
    saved: np.ndarray  # n × 3 USD saved on each tier when only the log switched at the turn

    def adjustment(self, logged: np.ndarray, actions: np.ndarray) -> float:
        """USD to add to the turns' logged-cache prices under ``actions``."""
        rows = np.flatnonzero(self.previous >= 0)
        if rows.size == 0:
            return 0.0
        before = self.previous[rows]
        candidate_switches = actions[rows] != actions[before]
        logged_switches = logged[rows] != logged[before]
        chosen = actions[rows]
        added = self.extra[rows, chosen][candidate_switches & ~logged_switches].sum()
        removed = self.saved[rows, chosen][~candidate_switches & logged_switches].sum()
        return float(added - removed)


def previous_turns(frame: pl.DataFrame) -> np.ndarray:
    """For each row, the row of the same session's previous turn if it started at most
    CACHE_LIFETIME_S before; −1 otherwise (or when the frame has no session_id / started_at)."""
    previous = np.full(frame.height, -1, dtype=np.int64)
    if frame.height == 0 or "session_id" not in frame.columns or "started_at" not in frame.columns:
        return previous
    # a cache is its thread's: Claude Code's auxiliary calls (titles, checks) and compaction requests
    # carry prompts of their own, so a main turn follows the session's previous main turn and they
    # follow nothing (priced as logged). Counting them as the thread's turns made every auxiliary
    # call a tier switch for the main turn after it, and a candidate that moved the calls to the main
    # turns' tier claimed cache writes saved that were never paid (issue 16's request-class world:
    # claimed 7.1 %, truly 3 % dearer). A turn without a class (stored before it was) is the thread's.
    threaded = pl.col("session_id").is_not_null()
    if "request_class" in frame.columns:
        threaded = threaded & (pl.col("request_class").is_null() | (pl.col("request_class") == "main"))
    ordered = (frame.with_row_index("row").filter(threaded).select("row", "session_id", "started_at")
               .sort(["session_id", "started_at", "row"]))
    same_session = ordered["session_id"] == ordered["session_id"].shift(1)
    gap_s = (ordered["started_at"] - ordered["started_at"].shift(1)).dt.total_microseconds() / 1e6
    valid = (same_session & (gap_s <= CACHE_LIFETIME_S)).fill_null(False).to_numpy()
    rows = ordered["row"].to_numpy().astype(np.int64)
    earlier = ordered["row"].shift(1).fill_null(-1).to_numpy().astype(np.int64)
    previous[rows[valid]] = earlier[valid]
    return previous


def cache_switches(frame: pl.DataFrame, rates: Mapping[str, PerToken], tiers: tuple[str, ...]) -> CacheSwitches:
    previous = previous_turns(frame)
    uncached = frame["input_tokens"].to_numpy().astype(np.float64)
    written = frame["cache_creation_tokens"].to_numpy().astype(np.float64)
    read = frame["cache_read_tokens"].to_numpy().astype(np.float64)
    prompt = uncached + written + read
    covered = np.where(previous >= 0, np.minimum(written, prompt[np.maximum(previous, 0)]), 0.0)
    extra, saved = [], []
    for tier in tiers:
        # USD per token moved from a read to a (5-minute) write on this tier
        step = rates[tier].cache_write_5m - rates[tier].cache_read
        extra.append(read * step)
        saved.append(covered * step)
    return CacheSwitches(previous, np.column_stack(extra), np.column_stack(saved))
