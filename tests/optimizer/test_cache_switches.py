"""The replay's prompt-cache locality follows Claude Code's threads (optimizer.cache_switches): a main
turn reads what the session's previous *main* turn wrote; auxiliary calls and compaction requests
carry prompts of their own and never make or break the main thread's cache."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from core.price_memo import PerToken
from optimizer.cache_switches import cache_switches, previous_turns

START = datetime(2026, 11, 2, 9)


def _frame(classes: list[str | None], session: str = "s1") -> pl.DataFrame:
    n = len(classes)
    return pl.DataFrame({
        "session_id": [session] * n,
        "started_at": [START + timedelta(seconds=20 * i) for i in range(n)],
        "request_class": classes,
        "input_tokens": [10] * n, "cache_creation_tokens": [0] * n, "cache_read_tokens": [20_000] * n,
    }, schema_overrides={"request_class": pl.String})


def test_a_main_turn_follows_the_previous_main_turn_and_auxiliary_calls_follow_nothing() -> None:
    assert previous_turns(_frame(["main", "auxiliary", "main", "compaction", "main"])).tolist() == [-1, -1, 0, -1, 2]
    # turns stored before the class was (null) are the thread's, as before
    assert previous_turns(_frame([None, None, "auxiliary", None])).tolist() == [-1, 0, -1, 1]
    # beyond the cache's lifetime (five minutes), nothing follows
    late = _frame(["main", "main"]).with_columns(pl.Series("started_at", [START, START + timedelta(minutes=6)]))
    assert previous_turns(late).tolist() == [-1, -1]


def test_moving_the_auxiliary_calls_to_the_main_tier_saves_no_cache_write() -> None:
    """The log: main turns on sonnet (1), auxiliary calls on haiku (0) between them. A candidate that
    sends the calls to sonnet too changes no main turn's tier, so nothing is added or saved; one that
    moves a main turn to opus makes that turn (and the next main turn) switch."""
    frame = _frame(["main", "auxiliary", "main", "auxiliary", "main"])
    rate = PerToken(input=3e-6, output=15e-6, cache_write_5m=3.75e-6, cache_write_1h=6e-6, cache_read=0.3e-6)
    switches = cache_switches(frame, {"haiku": rate, "sonnet": rate, "opus": rate}, ("haiku", "sonnet", "opus"))
    logged = np.array([1, 0, 1, 0, 1])
    assert switches.adjustment(logged, np.array([1, 1, 1, 1, 1])) == 0.0
    assert switches.adjustment(logged, np.array([1, 0, 2, 0, 1])) > 0
