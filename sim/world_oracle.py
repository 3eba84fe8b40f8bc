"""The best policy the policy language expresses on a world's truth, found by brute force over the
true curves (never by the optimizer): the cheapest policy of the family below whose true quality is
no worse than the active policy's, on the same week.

The family covers every fact the worlds' truths depend on (sim.world_config: request class, tools
offered, estimated tokens): a tool-count cut ``c`` (any count seen, or none), and for each cell
(request class × fewer than ``c`` tools / at least ``c``) a pair of token thresholds, haiku below the
first, opus from the second, sonnet between. The active policy's hashed splits (exploration) stay
first and route their sessions as before. Within a cut, a Lagrangian sweep chooses every cell's pair
(costed as if a session stayed on one tier), each sweep point judged exactly; the best three cuts are
then polished cell by cell over every pair while that finds a cheaper policy at the floor. What the
family cannot express (several cuts, non-monotone token bands, per-session routing) is not searched:
on these worlds' step-shaped truths one cut and one pair per cell are enough.

The winner is written out as a policy document and routed through ``decide()`` (sim.world_judge) to
check that the document routes as the search priced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.policy.schema import TIERS, Policy
from sim.world_judge import judge, route, split_rules
from sim.world_plan import WorldTruth

NEVER = 10**9  # a threshold no prompt reaches
_QUANTILES = 21


@dataclass(frozen=True, slots=True)
class Cell:
    request_class: str
    tools: tuple[int | None, int | None]  # [gte, lt) of tools offered; None: unbounded


@dataclass(frozen=True, slots=True)
class Oracle:
    policy: Policy
    quality: float
    cost: float
    cut: int  # tool-count cut (0: none)
    cells: tuple[tuple[Cell, int, int], ...]  # (cell, haiku_below, opus_from)


def _pairs(tokens: np.ndarray, given: tuple[int, ...]) -> list[tuple[int, int]]:
    """Threshold pairs over the cell's token quantiles, "never", "always" and the start policy's own
    thresholds (so the start's routing of the cell is always one of the pairs)."""
    grid = sorted({0, NEVER, *given, *np.quantile(tokens, np.linspace(0, 1, _QUANTILES)).astype(int).tolist(),
                   int(tokens.max()) + 1})
    return [(h, o) for h in grid for o in grid if o >= h]


def _thresholds(policy: Policy) -> tuple[int, ...]:
    bounds = (rule.when.input_tokens for rule in policy.rules if rule.when.input_tokens is not None)
    return tuple(sorted({value for bound in bounds for value in (bound.gte, bound.lt) if value is not None}))


def _actions(tokens: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    return np.where(tokens < pair[0], 0, np.where(tokens >= pair[1], 2, 1))


def _cells(truth: WorldTruth, cut: int) -> list[tuple[Cell, np.ndarray]]:
    cells = []
    for cls in sorted(set(truth.request_class.tolist())):
        in_class = truth.request_class == cls
        buckets = [((None, None), in_class)] if cut == 0 else [
            ((None, cut), in_class & (truth.tiers.tool_count < cut)),
            ((cut, None), in_class & (truth.tiers.tool_count >= cut))]
        cells += [(Cell(cls, bounds), np.flatnonzero(mask)) for bounds, mask in buckets if mask.any()]
    return cells


_Found = tuple[float, float, np.ndarray, list[tuple[Cell, tuple[int, int]]]]  # quality, cost, actions, cells


def _search_cut(truth: WorldTruth, cut: int, free: np.ndarray, fixed_actions: np.ndarray, floor: float,
                polish: bool, given: tuple[int, ...]) -> _Found | None:
    tiers = truth.tiers
    stay = np.where((tiers.last_ok >= 0)[:, None], tiers.cost_warm, tiers.cost_cold)
    cells = [(cell, rows[free[rows]]) for cell, rows in _cells(truth, cut)]
    cells = [(cell, rows) for cell, rows in cells if rows.size]
    tables = []
    for _, rows in cells:
        pairs = _pairs(tiers.tokens[rows], given)
        acts = np.stack([_actions(tiers.tokens[rows], pair) for pair in pairs])  # pairs × rows
        cost = stay[rows][np.arange(rows.size), acts].sum(axis=1)
        quality = tiers.p_success[rows][np.arange(rows.size), acts].sum(axis=1)
        tables.append((pairs, acts, cost, quality))
    best: tuple[float, float, np.ndarray, list[int]] | None = None

    def exact(choice: list[int]) -> tuple[float, float, np.ndarray]:
        actions = fixed_actions.copy()
        for (_, rows), (_, acts, _, _), index in zip(cells, tables, choice, strict=True):
            actions[rows] = acts[index]
        quality, cost = tiers.of_actions(actions)
        return quality, cost, actions

    scale = float(stay[:, 1].mean()) or 1.0
    for price in scale * np.geomspace(1e-2, 1e4, 120):
        choice = [int(np.argmin(cost - price * quality)) for _, _, cost, quality in tables]
        quality, cost, actions = exact(choice)
        if quality >= floor and (best is None or cost < best[1]):
            best = (quality, cost, actions, choice)
    if best is None:
        return None
    if polish:
        improved, rounds = True, 0
        while improved and rounds < 3:
            improved, rounds = False, rounds + 1
            for c, (pairs, _, _, _) in enumerate(tables):
                for index in range(len(pairs)):
                    choice = [*best[3][:c], index, *best[3][c + 1:]]
                    quality, cost, actions = exact(choice)
                    if quality >= floor and cost < best[1] - 1e-9:
                        best, improved = (quality, cost, actions, choice), True
    quality, cost, actions, choice = best
    return quality, cost, actions, [(cell, tables[c][0][index]) for c, ((cell, _), index) in
                                    enumerate(zip(cells, choice, strict=True))]


def _document(start: Policy, cells: list[tuple[Cell, tuple[int, int]]], version: str) -> Policy:
    target_of = {tier: next(t.name for t in start.targets if t.tier == tier) for tier in TIERS}
    rules: list[dict[str, Any]] = [rule.model_dump(mode="json", exclude_none=True) for rule in start.rules
                                   if rule.split is not None]
    for number, (cell, (haiku_below, opus_from)) in enumerate(cells):
        when: dict[str, Any] = {"request_class": [cell.request_class]}
        low, high = cell.tools
        if low is not None or high is not None:
            when["tool_count"] = {k: v for k, v in (("gte", low), ("lt", high)) if v is not None}
        # the last rule of a cell catches the rest of it: no rule the validator would find unreachable
        if haiku_below >= NEVER:
            rules.append({"name": f"cell{number}-haiku", "when": when, "route": [target_of["haiku"]]})
            continue
        if haiku_below > 0:
            rules.append({"name": f"cell{number}-haiku", "when": {**when, "input_tokens": {"lt": haiku_below}},
                          "route": [target_of["haiku"]]})
        if opus_from <= haiku_below:
            rules.append({"name": f"cell{number}-opus", "when": when, "route": [target_of["opus"]]})
            continue
        if opus_from < NEVER:
            rules.append({"name": f"cell{number}-opus", "when": {**when, "input_tokens": {"gte": opus_from}},
                          "route": [target_of["opus"]]})
        rules.append({"name": f"cell{number}-sonnet", "when": when, "route": [target_of["sonnet"]]})
    document = start.model_dump(mode="json", exclude_none=True)
    document.update(version=version, parent=start.version, rules=rules)
    return Policy.model_validate(document)


def _sweeps(truth: WorldTruth, start: Policy, floor: float | None) -> tuple[list[tuple[float, int]], np.ndarray,
                                                                           np.ndarray, float]:
    """Each cut's cheapest sweep point at the floor, as (cost, cut); the free rows (not a hashed
    split's), the start's tiers, and the floor."""
    routed = route(start, truth)
    free = ~np.isin(routed.rules, list(split_rules(start)))
    base_quality, _ = truth.tiers.of_actions(routed.tiers)
    floor = base_quality if floor is None else floor
    cuts = [0, *sorted(set(truth.tiers.tool_count[truth.tiers.tool_count > 0].tolist()))]
    swept = []
    for cut in cuts:
        found = _search_cut(truth, cut, free, routed.tiers.copy(), floor, polish=False, given=_thresholds(start))
        if found is not None:
            swept.append((found[1], cut))
    return swept, free, routed.tiers, floor


def swept_cost(truth: WorldTruth, start: Policy, *, floor: float | None = None) -> float | None:
    """The cheapest cost the Lagrangian sweep finds at the floor over every cut, without the polish
    (None when no point reaches it): a quick figure, comparable across variants of one truth
    (bench/session_keeping.py)."""
    swept, _, _, _ = _sweeps(truth, start, floor)
    return min(swept)[0] if swept else None


def oracle(truth: WorldTruth, start: Policy, *, floor: float | None = None) -> Oracle:
    """The cheapest policy of the family with true quality ≥ ``floor`` (default: ``start``'s own)."""
    swept, free, start_tiers, floor = _sweeps(truth, start, floor)
    given = _thresholds(start)
    if not swept:
        raise ValueError(f"no policy of the family reaches quality {floor}")
    best: tuple[float, float, np.ndarray, list[tuple[Cell, tuple[int, int]]], int] | None = None
    for _, cut in sorted(swept)[:3]:
        found = _search_cut(truth, cut, free, start_tiers.copy(), floor, polish=True, given=given)
        if found is not None and (best is None or found[1] < best[1]):
            best = (*found, cut)
    assert best is not None
    _, _, actions, cells, cut = best
    policy = _document(start, cells, f"{start.version}.oracle")
    judged = judge(policy, truth)
    if not np.array_equal(judged.tiers, actions):  # the document must route as the search priced it
        raise AssertionError(f"the oracle's document routes {int((judged.tiers != actions).sum())} turns otherwise")
    return Oracle(policy, judged.quality, judged.cost, cut,
                  tuple((cell, pair[0], pair[1]) for cell, pair in cells))
