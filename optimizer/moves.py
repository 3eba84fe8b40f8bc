"""How many explored sessions stand behind each *move* of a candidate: each part (base thresholds,
each override) and each pair of tiers (from the active policy's tier to the candidate's) among the
turns it re-routes.

optimizer.explored counts the explored sessions behind a whole part. A part can make several moves
at once, in different places: on a world built outside the project (issue 16, the request-class
world, seed 3) the override for main turns moved 8–10 K turns haiku → sonnet *and* 60–67 K turns
opus → sonnet. Twelve explored sessions stood behind the part, nearly all of them behind the first
move; the second, 390 turns of the held-out half, rested on four sonnet turns from three sessions,
all of which happened to succeed (sonnet's truth there is 0.68). The outcome model, fitted where
sonnet serves (below 60 K), carried sonnet's ~0.95 up into the band, and the doubly robust correction
that should pull it down had four successes to go on: its session bootstrap saw no spread in them,
so the interval (+0.003 … +0.014) excluded the truth (−0.014 on the same sessions, −0.012 on a fresh
week). No interval computed from a handful of explored turns that all went one way can see the risk
of that band; the honest answer there is "too little evidence", so the minimum of explored sessions
applies to every move, not only to every part. Pure (numpy).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from optimizer.replay import TIERS, ReplayData, Thresholds
from optimizer.segments import RoutingParams


def explored_moves(data: ReplayData, baseline: RoutingParams, candidate: RoutingParams) -> list[dict[str, Any]]:
    """One entry per (part of ``candidate``, active tier → candidate tier) that re-routes turns: how
    many turns, and how many sessions logged the candidate's tier on them (explored sessions)."""
    base_actions = baseline.actions(data.tokens, data.facts)
    actions = candidate.actions(data.tokens, data.facts)
    governing = candidate.governing(data.facts, data.n)
    moved = base_actions != actions
    sessions = data.sessions
    found = []
    for block in (-1, *range(len(candidate.overrides))):
        mine = moved & (governing == block)
        if not mine.any():
            continue
        segment = None if block < 0 else candidate.overrides[block].segment
        for before, after in sorted(set(zip(base_actions[mine].tolist(), actions[mine].tolist(), strict=True))):
            rows = mine & (base_actions == before) & (actions == after)
            backing = np.unique(sessions[rows & (data.logged == after)]).size
            found.append({"part": "base thresholds" if segment is None else segment.describe(),
                          "segment": None if segment is None else {"kind": segment.kind, "value": segment.value},
                          "move": f"{TIERS[before]} → {TIERS[after]}",
                          "tokens": [int(data.tokens[rows].min()), int(data.tokens[rows].max())],
                          "moved_turns": int(rows.sum()), "explored_sessions": int(backing)})
    return found


def reverted(thresholds: Thresholds, before: Thresholds, move: tuple[int, int]) -> Thresholds:
    """``thresholds`` with the threshold that makes ``move`` (active tier → candidate tier) put back
    where ``before`` (the active policy's thresholds for the part) has it, the other kept where it
    can be: the move's band goes back to its old tier and the part's other moves stay."""
    low, high = thresholds.haiku_below, thresholds.opus_from
    was, now = move
    if was == 2 or now == 2:  # the band came from opus or went to it: sonnet→opus where it was
        high = before.opus_from
        low = min(low, high)
    if 0 in (was, now) and not (was == 2 and now == 0):  # to or from haiku: haiku→sonnet where it was
        low = before.haiku_below
        high = max(high, low)
    return Thresholds(low, high)


def thin_moves(data: ReplayData, baseline: RoutingParams, candidate: RoutingParams,
               min_sessions: int, *, negligible: float = 0.0) -> tuple[RoutingParams, list[str], list[dict[str, Any]]]:
    """``candidate`` with every move that rests on fewer than ``min_sessions`` explored sessions
    undone: the threshold that makes it put back where the active policy has it for the part (so the
    part's other moves stay), or, when that does not undo it (a segment whose turns the active policy
    routes by several rules), the override dropped (its turns fall to a later override or the base,
    whose moves are then counted again). Returns the candidate, the moves undone in words, and the
    base thresholds' thin moves that could not be undone (then the candidate cannot be proposed).

    ``negligible``: thin moves whose turns add up to at most this share of all turns are left as they
    are (the smallest first). A threshold moved a little makes a sliver of a move with a session or
    two behind it; if every one of its turns failed, quality would drop by at most that share, so
    with ``negligible`` at half the search's quality margin the risk stays inside what the floor
    allows. The request-class move above was 6 % of the turns."""
    current = candidate.effective()
    undone: list[str] = []
    tried: set[tuple[object, ...]] = set()
    while True:
        thin = [entry for entry in explored_moves(data, baseline, current)
                if entry["explored_sessions"] < min_sessions]
        allowed = negligible * data.n
        for small in sorted(thin, key=lambda e: e["moved_turns"]):
            if small["moved_turns"] > allowed:
                break
            allowed -= small["moved_turns"]
            thin.remove(small)
        if not thin:
            return current, undone, []
        entry = thin[-1]  # the last part first: undoing it can hand turns to a later part or the base
        block = -1 if entry["segment"] is None else next(
            i for i, o in enumerate(current.overrides)
            if (o.segment.kind, o.segment.value) == (entry["segment"]["kind"], entry["segment"]["value"]))
        words = (f"{entry['part']}: {entry['move']} on {entry['tokens'][0]:,}–{entry['tokens'][1]:,} tokens "
                 f"({entry['explored_sessions']} explored sessions < {min_sessions})")
        key = (block, current.block(block), entry["move"])
        if key not in tried:  # put the threshold back, once per part, thresholds and move
            tried.add(key)
            before = _before(baseline, current, block)
            was, now = (TIERS.index(name) for name in entry["move"].split(" → "))
            current = current.with_block(block, reverted(current.block(block), before, (was, now))).effective()
            undone.append(words)
            continue
        if block < 0:
            return current, undone, [e for e in thin if e["segment"] is None]
        current = replace(current, overrides=current.overrides[:block] + current.overrides[block + 1:]).effective()
        undone.append(f"{words}: dropped")


def _before(baseline: RoutingParams, current: RoutingParams, block: int) -> Thresholds:
    """The active policy's thresholds for ``current``'s part ``block``: its override for the same
    segment when it has one, else what the segment gets without one (the base; a rule's own tier)."""
    if block < 0:
        return baseline.base
    segment = current.overrides[block].segment
    return next((o.thresholds for o in baseline.overrides if o.segment == segment), baseline.start_of(segment))
