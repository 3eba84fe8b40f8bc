"""Failures no tier has more of become one "any tier" cluster; a tier's own mode keeps its name
(evals.cluster_tiers). The fleet: a logged policy routes by size (haiku < 10 K ≤ sonnet < 60 K ≤
opus) and explores, so every tier serves some turns of every size."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from evals.cluster_features import FailureFeatures
from evals.cluster_summary import summarise
from evals.cluster_tiers import MIN_OTHER_TURNS, Z_TIER_SPECIFIC, TurnPopulation, merge_shared, tier_test
from evals.clusters import Clustering
from tests.evals.turns import T0

TOOLS = (3, 8, 17, 24)


def _fleet(rng: np.random.Generator, *, explore: float) -> tuple[list[str], list[int], list[int]]:
    tiers, offered, tokens = [], [], []
    for _ in range(6_000):
        size = int(rng.integers(1_000, 150_000))
        tier = "haiku" if size < 10_000 else "sonnet" if size < 60_000 else "opus"
        if rng.random() < explore:
            tier = str(rng.choice(["haiku", "sonnet", "opus"]))
        tiers.append(tier)
        offered.append(int(rng.choice(TOOLS)))
        tokens.append(size)
    return tiers, offered, tokens


def _row(i: int, tier: str, offered: int, tokens: int) -> FailureFeatures:
    return FailureFeatures(
        trace_id=f"{i:032x}", span_id=f"{i:016x}", session_id=f"s{i}", started_at_ns=T0, cost_usd=0.01, tier=tier,
        total_tokens=tokens, tool_calls=1, tool_names=("Bash",), failed_tools=("Bash",), signals=("tool_failure",),
        error_type="", stop_reason="tool_use", error_text="Bash failed", request_class="main", offered_tools=offered)


def world(*, explore: float = 0.1, natural: dict[str, float] | None = None,
          seed: int = 3) -> tuple[list[FailureFeatures], Clustering, TurnPopulation]:
    """Every tier fails ``natural[tier]`` of its turns (3 % by default), haiku 40 % of those offering
    ≥ 17 tools on top. Labelled as k-means labels them: haiku's failures one cluster, sonnet's and
    opus's one each."""
    rng = np.random.default_rng(seed)
    rates = {"haiku": 0.03, "sonnet": 0.03, "opus": 0.03, **(natural or {})}
    tiers, offered, tokens = _fleet(rng, explore=explore)
    rows, labels = [], []
    for i, (tier, tools, size) in enumerate(zip(tiers, offered, tokens, strict=True)):
        mode = tier == "haiku" and tools >= 17 and rng.random() < 0.4
        if mode or rng.random() < rates[tier]:
            rows.append(_row(i, tier, tools, size))
            labels.append(("haiku", "sonnet", "opus").index(tier))
    clustering = Clustering(np.asarray(labels), np.zeros(len(labels)), 3, None)
    return rows, clustering, TurnPopulation.of(tiers, ["main"] * len(tiers), offered, tokens)


def test_natural_failures_of_two_tiers_become_one_any_tier_cluster_and_a_tiers_mode_keeps_its_own() -> None:
    rows, clustering, population = world()
    merged = merge_shared(rows, clustering, population)
    tiers = np.asarray([row.tier for row in rows])
    sonnet, opus, haiku = (set(merged.labels[tiers == tier].tolist()) for tier in ("sonnet", "opus", "haiku"))
    assert len(sonnet) == 1 and sonnet == opus  # one cluster
    assert haiku.isdisjoint(sonnet) and merged.shared == frozenset(sonnet)
    assert merged.k == 2
    by_name = {summary.name: summary for summary in summarise(rows, merged, start_ns=T0, end_ns=T0 + 1,
                                                                window_totals=[1])}
    shared = next(summary for name, summary in by_name.items() if name.startswith("any tier · "))
    assert shared.features["any_tier"] is True and shared.features["tier"] is None
    assert shared.size == int(np.isin(tiers, ["sonnet", "opus"]).sum())
    assert any(name.startswith("haiku · ") for name in by_name)


def test_a_tier_that_fails_more_keeps_its_name_beside_the_failures_shared() -> None:
    """Opus fails 12 % of its turns, three times the others: its cluster stays opus's; sonnet's
    failures are no more than the other tiers' and are named so."""
    rows, clustering, population = world(natural={"opus": 0.12})
    merged = merge_shared(rows, clustering, population)
    opus = next(label for label, row in zip(clustering.labels.tolist(), rows, strict=True) if row.tier == "opus")
    sonnet = next(label for label, row in zip(clustering.labels.tolist(), rows, strict=True) if row.tier == "sonnet")
    assert opus not in merged.shared and sonnet in merged.shared
    test = tier_test(rows, [i for i, row in enumerate(rows) if row.tier == "opus"], population)
    assert test is not None and test.z is not None and test.z >= Z_TIER_SPECIFIC


def test_without_turns_of_other_tiers_to_compare_nothing_is_merged() -> None:
    """No exploration: a tier's kind of turns is served by that tier alone, so no rate can be
    compared and every cluster stays as k-means left it."""
    rows, clustering, population = world(explore=0.0)
    sonnet_rows = [i for i, row in enumerate(rows) if row.tier == "sonnet"]
    test = tier_test(rows, sonnet_rows, population)
    assert test is not None and test.z is None and test.tier_specific
    merged = merge_shared(rows, clustering, population)
    assert merged is clustering and not merged.shared
    assert MIN_OTHER_TURNS > 0


def test_turns_of_a_model_no_price_names_are_no_tier_to_compare_with() -> None:
    """A fifth more turns served by a model outside the price table ("unknown"), never failing: it is
    no tier a route can choose, so sonnet's and opus's natural failures are still shared (compared
    with it, sonnet's 3 % would look like a mode of its own); and a cluster of such turns gets no
    verdict at all."""
    rows, clustering, population = world()
    rng = np.random.default_rng(8)
    extra = 1_200
    widened = TurnPopulation.of([*population.tier.tolist(), *["unknown"] * extra],
                                [*population.request_class.tolist(), *["main"] * extra],
                                [*population.offered_tools.tolist(), *rng.choice(TOOLS, extra).tolist()],
                                [*population.tokens.tolist(), *rng.integers(1_000, 150_000, extra).tolist()])
    merged = merge_shared(rows, clustering, widened)
    tiers = np.asarray([row.tier for row in rows])
    assert set(merged.labels[tiers == "sonnet"].tolist()) == set(merged.labels[tiers == "opus"].tolist())
    assert merged.shared
    unknown = [_row(i, "unknown", 17, 30_000) for i in range(40)]
    assert tier_test(unknown, list(range(40)), widened) is None


def test_unlabelled_classes_and_a_tier_the_window_never_served_are_read_safely() -> None:
    """Every turn without a request class reads as one class, "" (the same merges); a cluster whose
    tier served none of the window's turns (a failure read before its turn was) has no rate and no
    verdict: it stays as k-means made it."""
    rows, clustering, population = world()
    unlabelled = [replace(row, request_class="") for row in rows]
    blank = TurnPopulation.of(population.tier.tolist(), [""] * len(population.tier),
                              population.offered_tools.tolist(), population.tokens.tolist())
    assert np.array_equal(merge_shared(unlabelled, clustering, blank).labels,
                          merge_shared(rows, clustering, population).labels)
    without_haiku = population.tier != "haiku"
    no_haiku = TurnPopulation(population.tier[without_haiku], population.request_class[without_haiku],
                              population.offered_tools[without_haiku], population.tokens[without_haiku])
    haiku_rows = [i for i, row in enumerate(rows) if row.tier == "haiku"]
    test = tier_test(rows, haiku_rows, no_haiku)
    assert test is not None and test.z is None and test.tier_specific
    merged = merge_shared(rows, clustering, no_haiku)
    assert set(merged.labels[haiku_rows].tolist()).isdisjoint(merged.shared)
