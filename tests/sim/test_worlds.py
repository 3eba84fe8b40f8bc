"""The generalisation suite's worlds (sim.world_config, sim.world_plan): the truth is what the plan
drew its outcomes from, the records carry what decide() saw, the judge prices exactly what decide()
routes, the oracle's policy is valid, routes as it was priced and is found where the world hides its
signal, and the narrow price table goes through the one pricing module."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from bench.optimizer_world import default_policy
from core.policy.problems import errors_in
from core.policy.validate import validate
from core.pricing import Usage, builtin_price_table
from core.spans import Turn
from sim.fleet_records import session_records
from sim.world_config import NO_CHEAPER, REQUEST_CLASS, TOOL_DENSITY, WORLDS, World, world_named
from sim.world_judge import judge
from sim.world_oracle import Oracle, oracle
from sim.world_plan import WorldTruth, WorldWeek, plan_week, run_week, week_truth
from sim.world_prices import NARROW_FACTORS, price_tables, scaled_price_table

START = datetime(2026, 11, 2, tzinfo=UTC)
POLICY = default_policy("start", haiku_below=10_000, opus_from=60_000, explore=10)


@pytest.fixture(scope="module")
def truths() -> dict[str, WorldTruth]:
    return {world.name: week_truth(WorldWeek(world, 3, 300, START, POLICY), builtin_price_table())
            for world in WORLDS}


@pytest.fixture(scope="module")
def oracles(truths: dict[str, WorldTruth]) -> dict[str, Oracle]:
    return {name: oracle(truth, POLICY) for name, truth in truths.items()}


def test_outcomes_follow_the_truth_the_world_declares(truths: dict[str, WorldTruth]) -> None:
    """Over a week, the share of turns that failed on the tier that served them is the mean of the
    true success probabilities on those tiers (within sampling error)."""
    for name, truth in truths.items():
        rows = np.arange(truth.logged_tier.size)
        expected_failures = float((1 - truth.tiers.p_success[rows, truth.logged_tier]).sum())
        failed = int((truth.failure != "").sum())
        assert abs(failed - expected_failures) <= 4 * np.sqrt(expected_failures) + 5, name


def test_a_mode_fires_only_where_it_matches() -> None:
    world = REQUEST_CLASS
    many_tools_main = world.p_success(tier="haiku", request_class="main", tool_count=17, tokens=5_000)
    compaction = world.p_success(tier="haiku", request_class="compaction", tool_count=0, tokens=150_000)
    assert many_tools_main == pytest.approx((1 - 0.45) * world.base_success)
    assert compaction == pytest.approx(world.base_success)
    assert TOOL_DENSITY.p_success(tier="haiku", request_class="main", tool_count=5, tokens=170_000) == \
        pytest.approx(TOOL_DENSITY.base_success)
    assert TOOL_DENSITY.p_success(tier="haiku", request_class="main", tool_count=6, tokens=1_000) < 0.6


def test_records_carry_the_facts_decide_saw() -> None:
    rows: list[dict[str, object]] = []
    plans = list(plan_week(WorldWeek(REQUEST_CLASS, 5, 60, START, POLICY), builtin_price_table(), rows))
    records: list[Turn] = [record for plan in plans for record in session_records(plan)[0]]
    assert {record.request_class for record in records} == {"main", "auxiliary", "compaction"}
    assert [record.request_class for record in records] == [row["request_class"] for row in rows]
    assert all(record.propensity is not None and record.rule for record in records)
    # auxiliary and compaction requests offer no tools; main ones offer the session's
    assert {record.tool_count for record in records if record.request_class != "main"} == {0}


def test_the_judge_prices_what_decide_routes(truths: dict[str, WorldTruth]) -> None:
    """The week was routed by decide() when it was planned; judging the same policy on it routes every
    turn to the same tier, and its quality and cost are the truth's for those tiers."""
    for truth in truths.values():
        judged = judge(POLICY, truth)
        assert np.array_equal(judged.tiers, truth.logged_tier)
        assert (judged.quality, judged.cost) == truth.tiers.of_actions(truth.logged_tier)


def test_the_oracle_is_a_valid_policy_no_worse_and_no_dearer(truths: dict[str, WorldTruth],
                                                             oracles: dict[str, Oracle]) -> None:
    for name, truth in truths.items():
        base, best = judge(POLICY, truth), oracles[name]
        assert not errors_in(validate(best.policy)), name
        assert best.quality >= base.quality - 1e-12 and best.cost <= base.cost + 1e-9, name
        assert judge(best.policy, truth).cost == pytest.approx(best.cost)


def test_the_oracle_finds_the_cut_the_world_hides(truths: dict[str, WorldTruth], oracles: dict[str, Oracle]) -> None:
    found = oracles["tool-density"]
    assert found.cut == 6
    assert 1 - found.cost / judge(POLICY, truths["tool-density"]).cost > 0.15
    # where nothing cheaper is safe, the oracle saves next to nothing
    assert 1 - oracles["no-cheaper"].cost / judge(POLICY, truths["no-cheaper"]).cost < 0.02


def test_the_narrow_table_moves_the_tiers_closer_through_core_pricing() -> None:
    tables = price_tables()
    today, narrow = tables["today"], tables["narrow"]
    day = START.date()
    usage = Usage(input_tokens=1_000_000)
    models = {"haiku": "claude-haiku-4-5-20251001", "sonnet": "claude-sonnet-4-5-20250929",
              "opus": "claude-opus-4-5-20251101"}
    now = {tier: today.cost(model, usage, day).usd for tier, model in models.items()}
    then = {tier: narrow.cost(model, usage, day).usd for tier, model in models.items()}
    assert then == {tier: now[tier] * NARROW_FACTORS[tier] for tier in models}
    assert then["sonnet"] / then["haiku"] < now["sonnet"] / now["haiku"]
    assert then["opus"] / then["sonnet"] < now["opus"] / now["sonnet"]
    assert scaled_price_table(today, {}).entries == today.entries
    assert narrow.tier_of(models["opus"]) == "opus"
    assert then["haiku"] == Decimal(2)


def test_worlds_refuse_what_they_cannot_mean() -> None:
    with pytest.raises(ValueError, match="unique"):
        World("x", "", modes=(NO_CHEAPER.modes[0], NO_CHEAPER.modes[0]))
    with pytest.raises(KeyError, match="known"):
        world_named("nowhere")


def test_a_week_written_through_a_sink_matches_its_truth() -> None:
    batches: list[int] = []
    truth = run_week(WorldWeek(NO_CHEAPER, 2, 40, START, POLICY), builtin_price_table(),
                     lambda turns, events: batches.append(len(turns)), batch_turns=100)
    assert sum(batches) == truth.span_id.size and len(set(truth.span_id.tolist())) == truth.span_id.size
    assert len(batches) > 1
