"""Occam's razor for a candidate's segment overrides: an override stays only if it earns its place.

Every override the search adds is two more thresholds fitted to the same sample the estimate comes
from, so a search over many segments also finds overrides that only fit the sample's noise (on a
fleet where repos do not matter, four repo overrides raised the claimed saving 2.6 points above the
truth's). Before a candidate is judged, each override in turn (the last first) is dropped (its turns
fall to a later override or the base); if the candidate stays feasible by the search's own test and its replayed cost
rises by less than ``min_saving`` of the active policy's cost, the override goes. Pure.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from optimizer.replay import ReplayData, difference_lower_bound, total_cost
from optimizer.search import SearchResult
from optimizer.segments import RoutingParams


def feasible(data: ReplayData, result: SearchResult, params: RoutingParams) -> bool:
    """The search's test (optimizer.replay.difference_lower_bound): the paired DR difference, less z
    standard errors, is at least −margin."""
    base = result.baseline.actions(data.tokens, data.facts)
    _, lower = difference_lower_bound(data, params.actions(data.tokens, data.facts), base, result.z)
    return bool(np.isfinite(lower)) and lower >= -result.margin


def pruned(data: ReplayData, result: SearchResult, params: RoutingParams, *, min_saving: float = 0.01) -> RoutingParams:
    """``params`` without the overrides that save less than ``min_saving`` × the active policy's
    replayed cost (and whose removal keeps the candidate feasible)."""
    threshold = min_saving * result.baseline_cost
    current = params.effective()
    cost = total_cost(data, current.actions(data.tokens, data.facts))
    for index in range(len(current.overrides) - 1, -1, -1):
        simpler = replace(current, overrides=current.overrides[:index] + current.overrides[index + 1:]).effective()
        simpler_cost = total_cost(data, simpler.actions(data.tokens, data.facts))
        if simpler_cost - cost < threshold and feasible(data, result, simpler):
            current, cost = simpler, simpler_cost
    return current
