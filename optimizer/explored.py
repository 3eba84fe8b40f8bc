"""How many explored sessions stand behind each part of a candidate that changes routing.

A candidate that re-routes a segment's turns to another tier rests, for those turns, on the logged
turns that tier served there although the active policy would not have sent them to it: exploration.
Under a session-level split those come a session at a time, and a handful of sessions can make a
tier look good by luck (on a world built outside the project a repo override rested on *one*
explored session that put sonnet's estimate at 0.93 against a truth of 0.72). So for the base
thresholds and for each override, the turns the candidate moves and, among them, the sessions whose
logged tier is the candidate's are counted; a part with fewer than ``min_sessions`` is not changed:
an override is dropped (its turns fall to a later override or the base), a base change refuses the
candidate. Pure (numpy).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from optimizer.replay import ReplayData
from optimizer.segments import RoutingParams


def explored_sessions(data: ReplayData, baseline: RoutingParams, candidate: RoutingParams) -> list[dict[str, Any]]:
    """One entry per part of ``candidate`` (base, each override) that moves turns: which, how many
    turns it moves, and how many explored sessions back the move."""
    base_actions = baseline.actions(data.tokens, data.facts)
    actions = candidate.actions(data.tokens, data.facts)
    governing = candidate.governing(data.facts, data.n)
    moved = base_actions != actions
    sessions = data.sessions
    found = []
    for block in (-1, *range(len(candidate.overrides))):
        rows = moved & (governing == block)
        if not rows.any():
            continue
        backing = np.unique(sessions[rows & (data.logged == actions)]).size
        segment = None if block < 0 else candidate.overrides[block].segment
        found.append({"part": "base thresholds" if segment is None else segment.describe(),
                      "segment": None if segment is None else {"kind": segment.kind, "value": segment.value},
                      "moved_turns": int(rows.sum()), "explored_sessions": int(backing)})
    return found


def thin_parts(data: ReplayData, baseline: RoutingParams, candidate: RoutingParams,
               min_sessions: int) -> tuple[RoutingParams, list[str], bool]:
    """``candidate`` without the overrides that rest on fewer than ``min_sessions`` explored
    sessions; the parts dropped, in words; and whether the base thresholds' own change is that thin
    (then the candidate cannot be proposed)."""
    current = candidate.effective()
    dropped: list[str] = []
    while True:
        thin = [entry for entry in explored_sessions(data, baseline, current)
                if entry["explored_sessions"] < min_sessions]
        overrides = [entry for entry in thin if entry["segment"] is not None]
        if not overrides:
            return current, dropped, bool(thin)
        entry = overrides[-1]  # the last first: dropping it moves its turns to a later part or the base
        index = next(i for i, o in enumerate(current.overrides)
                     if (o.segment.kind, o.segment.value) == (entry["segment"]["kind"], entry["segment"]["value"]))
        dropped.append(f"{entry['part']} ({entry['explored_sessions']} explored sessions < {min_sessions})")
        current = replace(current, overrides=current.overrides[:index] + current.overrides[index + 1:]).effective()
