"""Failure clusters that recover modes they have not seen (issue 16, item 6): the tier that failed a
turn a fallback rescued, features that say where a mode lives (request class, tools offered, size)
rather than which tool happened to fail, names led by the failing tier, and on a simulated world
written through ingest and scored by the built-in evals, clusters that match its injected modes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from evals.cluster_features import FailureFeatures, failed_target, failure_features, tier_of_target
from evals.cluster_summary import summarise
from evals.clusters import TOOL_NAME_WEIGHTS, ClusterSettings, cluster_failures
from evals.protocol import ToolResultEvent
from tests.evals.turns import SECOND, T0, contexts, turn

SONNET, OPUS = "claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101"
TIERS = {"claude-sonnet-4-5-20250929": "sonnet", "claude-opus-4-5-20251101": "opus",
         "claude-haiku-4-5-20251001": "haiku"}


def test_a_rescued_turn_is_the_failing_tiers() -> None:
    """Opus timed out, sonnet answered (slowly): the failure belongs to opus, by the stored
    policies' targets, else by the tier word in the target's name."""
    rescued = turn(0, served_model=SONNET, requested_model=OPUS, fallback_hops=("primary:timeout", "backup:200"))
    [ctx] = contexts([rescued])
    features = failure_features(ctx, ("latency_slo",), TIERS.get, {"primary": "opus", "backup": "sonnet"})
    assert (features.tier, features.rescued_from) == ("opus", "primary")
    by_name = failure_features(ctx, ("latency_slo",), TIERS.get)  # no stored target: the name has no tier word
    assert by_name.tier == "sonnet"
    named = turn(0, served_model=SONNET, fallback_hops=("anthropic-opus:timeout", "anthropic-sonnet:200"))
    assert failure_features(contexts([named])[0], ("latency_slo",), TIERS.get).tier == "opus"
    plain = failure_features(contexts([turn(0, served_model=SONNET)])[0], ("latency_slo",), TIERS.get)
    assert (plain.tier, plain.rescued_from) == ("sonnet", "")
    assert failed_target(()) is None and failed_target(("a:b:529",)) == "a:b"
    # passed over because its circuit was open (proxy.chain): still the primary's failure
    skipped = turn(0, served_model=SONNET, fallback_hops=("anthropic-opus:breaker_open", "anthropic-sonnet:200"))
    assert failure_features(contexts([skipped])[0], ("latency_slo",), TIERS.get).tier == "opus"
    assert tier_of_target("eu-Opus-1", {}) == "opus" and tier_of_target("x", {}) is None


def test_a_failure_no_model_served_is_its_targets_tier() -> None:
    """Haiku's only target answered 529: no model served the turn, so it is haiku's failure, not
    that of the opus Claude Code asked for (the policy rewrote the model)."""
    failed = turn(0, served_model=None, requested_model=OPUS, target="haiku-us", status_code=529,
                  error_type="overloaded_error")
    [ctx] = contexts([failed])
    assert failure_features(ctx, ("upstream_error",), TIERS.get, {"haiku-us": "haiku"}).tier == "haiku"
    named = turn(0, served_model=None, requested_model=OPUS, target="anthropic-haiku", status_code=529)
    assert failure_features(contexts([named])[0], ("upstream_error",), TIERS.get).tier == "haiku"
    unknown = turn(0, served_model=None, requested_model=OPUS, target="primary", status_code=529)
    assert failure_features(contexts([unknown])[0], ("upstream_error",), TIERS.get).tier == "opus"


def test_features_carry_request_class_and_tools_offered() -> None:
    calling = turn(0, tool_use_ids=("toolu_1",), tool_use_names=("Bash",), stop_reason="tool_use",
                   request_class="compaction", tool_count=24)
    following = turn(1, tool_result_ids=("toolu_1",), tool_result_error_ids=("toolu_1",))
    events = (ToolResultEvent(T0 + 3 * SECOND, "Bash", False, "Command failed with exit code 1", "toolu_1"),)
    features = failure_features(contexts([calling, following], events=events)[0], ("tool_failure",), TIERS.get)
    assert (features.request_class, features.offered_tools, features.failed_tools) == ("compaction", 24, ("Bash",))


def _row(i: int, *, tier: str, tool: str, offered: int, request_class: str = "main",
         tokens: int = 20_000) -> FailureFeatures:
    return FailureFeatures(
        trace_id=f"{i:032x}", span_id=f"{i:016x}", session_id=f"s{i}", started_at_ns=T0, cost_usd=0.01, tier=tier,
        total_tokens=tokens, tool_calls=1, tool_names=(tool,), failed_tools=(tool,), signals=("tool_failure",),
        error_type="", stop_reason="tool_use", error_text=f"{tool} failed: error {i % 7}",
        request_class=request_class, offered_tools=offered)


def spread_mode(rng: np.random.Generator) -> tuple[list[FailureFeatures], list[str]]:
    """Haiku failing main turns that offer many tools, whatever tool they called, beside sonnet's
    and opus's natural failures of the same tools."""
    tools = ("Bash", "Read", "Edit", "Grep")
    rows, truth = [], []
    for i in range(240):
        tool = tools[int(rng.integers(len(tools)))]
        if i < 80:
            rows.append(_row(i, tier="haiku", tool=tool, offered=int(rng.choice([17, 24]))))
            truth.append("haiku-many-tools")
        else:
            tier = "sonnet" if i < 160 else "opus"
            rows.append(_row(i, tier=tier, tool=tool, offered=int(rng.choice([6, 8, 17])),
                             tokens=int(rng.integers(10_000, 150_000))))
            truth.append(f"natural-{tier}")
    return rows, truth


def test_a_mode_shown_by_several_tools_is_one_cluster_named_by_its_tier() -> None:
    from sklearn.metrics import adjusted_rand_score

    rows, truth = spread_mode(np.random.default_rng(4))
    after = cluster_failures(rows, ClusterSettings(random_state=0))
    before = cluster_failures(rows, ClusterSettings(random_state=0, weights=TOOL_NAME_WEIGHTS))
    assert adjusted_rand_score(truth, after.labels) >= 0.9
    assert adjusted_rand_score(truth, before.labels) < 0.5  # grouped by the tool that failed
    named = summarise(rows, after, start_ns=T0, end_ns=T0 + 1, window_totals=[1])
    haiku = [s for s in named if s.features["tier"] == "haiku"]
    assert len(haiku) == 1 and haiku[0].name.startswith("haiku · ") and "≥ 17 tools offered" in haiku[0].name


def test_a_mixed_cluster_names_every_tier_it_holds() -> None:
    rows = [_row(i, tier="haiku" if i % 2 else "sonnet", tool="Bash", offered=8) for i in range(10)]
    labels = cluster_failures(rows, ClusterSettings(min_clusters=1, max_clusters=1))
    one = cluster_failures(rows, ClusterSettings()) if labels.k != 1 else labels
    [summary] = summarise(rows, type(one)(np.zeros(10, dtype=int), np.zeros(10), 1, None), start_ns=T0,
                          end_ns=T0 + 1, window_totals=[1])
    assert summary.name.startswith("haiku/sonnet · ")


@pytest.mark.parametrize("world_name", ["tool-density"])
def test_clusters_recover_a_worlds_modes_through_the_store(tmp_path: Path, world_name: str) -> None:
    """A week of a world the clustering was not written for, through ingest, the built-in evals and
    the clustering run: the clusters match the injected modes (every natural failure one group,
    sim.world_clusters' strict reading), better than grouping by the tool that failed or than the
    clusters before the ones no tier has more of are merged (evals.cluster_tiers), and name the
    failing tier, or "any tier" for the natural failures."""
    from bench.generalisation import START, logged_policy
    from core.pricing import builtin_price_table
    from evals.cluster_runner import run_clustering
    from evals.registry import builtin_evaluators
    from evals.runner import EvalSettings, run_evals
    from ingest.local import LocalIngest, fixed_clock
    from sim.world_clusters import adjusted_rand
    from sim.world_config import world_named
    from sim.world_plan import WorldWeek, run_week
    from store.engine import make_engine
    from store.policies import activate, create_version
    from store.testing import migrated_sqlite_url

    prices, policy, at = builtin_price_table(), logged_policy(explore=30), START.replace(tzinfo=None)
    engine = make_engine(migrated_sqlite_url(tmp_path))
    try:
        create_version(engine, policy, actor="test", now=at)
        activate(engine, policy.version, actor="test", now=at)
        store = LocalIngest(engine, prices=prices, clock=fixed_clock(at + timedelta(days=8))).write
        truth = run_week(WorldWeek(world_named(world_name), 7, 300, START, policy), prices, store)
        run_evals(engine, builtin_evaluators(prices), EvalSettings(settle_s=0))
        run = run_clustering(engine, prices, start=at, end=at + timedelta(days=7))
    finally:
        engine.dispose()
    before = cluster_failures(run.rows, ClusterSettings(weights=TOOL_NAME_WEIGHTS))
    unmerged = cluster_failures(run.rows)
    after_ari = adjusted_rand(run.rows, run.clustering.labels, truth)
    before_ari = adjusted_rand(run.rows, before.labels, truth)
    unmerged_ari = adjusted_rand(run.rows, unmerged.labels, truth)
    assert after_ari is not None and before_ari is not None and unmerged_ari is not None
    assert after_ari >= 0.8 and after_ari > before_ari + 0.1, (before_ari, after_ari)
    assert after_ari > unmerged_ari + 0.05, (unmerged_ari, after_ari)
    names = [summary.name for summary in run.clusters]
    assert all(name.split(" · ")[0] in ("haiku", "sonnet", "opus", "any tier") or "/" in name.split(" · ")[0]
               for name in names), names
    assert any(name.startswith("haiku · ≥ 6 tools offered") for name in names), names
    assert any(name.startswith("any tier · ") and name.endswith("tool failure") for name in names), names


def test_target_tiers_come_from_the_stored_policies(tmp_path: Path) -> None:
    from bench.generalisation import START, logged_policy
    from evals.cluster_runner import target_tiers
    from store.engine import make_engine
    from store.policies import create_version
    from store.testing import migrated_sqlite_url

    engine = make_engine(migrated_sqlite_url(tmp_path))
    try:
        assert target_tiers(engine) == {}
        create_version(engine, logged_policy(), actor="test", now=START.replace(tzinfo=None))
        assert target_tiers(engine) == {"anthropic-haiku": "haiku", "anthropic-sonnet": "sonnet",
                                        "anthropic-opus": "opus"}
    finally:
        engine.dispose()
