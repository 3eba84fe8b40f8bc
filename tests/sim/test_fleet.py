"""The simulated fleet: seeded, realistic in shape, and honest about its ground truth."""

from __future__ import annotations

import collections
import statistics
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from core.pricing import builtin_price_table
from core.spans import Turn, session_trace_id
from sim.fleet import run_fast
from sim.fleet_config import DEFAULT_MODES, FailureMode, FleetConfig, Outcome
from sim.fleet_plan import BACKGROUND, SessionPlan, plan_sessions
from sim.fleet_records import session_records
from sim.fleet_truth import COLUMNS


@pytest.fixture(scope="module")
def plans() -> list[SessionPlan]:
    return list(plan_sessions(FleetConfig(seed=11, sessions=500), builtin_price_table()))


def test_the_same_seed_gives_the_same_fleet() -> None:
    prices = builtin_price_table()
    first = [session_records(plan) for plan in plan_sessions(FleetConfig(seed=5, sessions=20), prices)]
    again = [session_records(plan) for plan in plan_sessions(FleetConfig(seed=5, sessions=20), prices)]
    other = [session_records(plan) for plan in plan_sessions(FleetConfig(seed=6, sessions=20), prices)]
    assert first == again and first != other


def test_turn_sizes_caching_tiers_and_bursts_look_like_claude_code(plans: list[SessionPlan]) -> None:
    turns = [turn for plan in plans for turn in plan.turns]
    sizes = [turn.total_tokens for turn in turns]
    assert min(sizes) >= 8_000 and max(sizes) <= 180_000 and max(sizes) > 150_000
    assert statistics.mean(sizes) > statistics.median(sizes)  # long-tailed
    answered = [turn for turn in turns if turn.status == 200]
    assert sum(turn.usage.cache_read_tokens > 0 for turn in answered) > 0.8 * len(answered)
    assert {turn.tier for turn in turns} == {"haiku", "sonnet", "opus"}
    for team in FleetConfig().teams:  # each team has a crunch day: a burst of sessions
        per_day = collections.Counter(plan.start.date() for plan in plans if plan.developer.team == team)
        assert max(per_day.values()) > 1.5 * statistics.median(per_day.values()), (team, per_day)
    lengths = [len(plan.turns) for plan in plans]
    assert min(lengths) >= 2 and max(lengths) > 3 * statistics.median(lengths)


def test_skill_and_difficulty_set_the_natural_failure_rate(plans: list[SessionPlan]) -> None:
    natural = collections.defaultdict(list)
    for plan in plans:
        for turn in plan.turns:
            if turn.mode in (None, BACKGROUND) and turn.outcome is not Outcome.LOOP:
                natural[turn.tier].append(turn.mode == BACKGROUND)
    rates = {tier: sum(flags) / len(flags) for tier, flags in natural.items()}
    assert rates["haiku"] > rates["sonnet"] > rates["opus"]


def test_failure_modes_fire_only_where_they_match(plans: list[SessionPlan]) -> None:
    by_label = {mode.label: mode for mode in DEFAULT_MODES}
    seen = collections.Counter()
    for plan in plans:
        for turn in plan.turns:
            mode = by_label.get(turn.mode or "")
            if mode is None:
                continue
            seen[mode.label] += 1
            assert turn.outcome is mode.outcome
            assert mode.tier in (None, turn.tier) and mode.repo in (None, plan.repo)
            assert turn.total_tokens >= mode.min_tokens
            if mode.tool and mode.outcome is not Outcome.TRUNCATE:
                assert mode.tool in turn.tools
    assert set(seen) == set(by_label)


def test_only_injected_loops_repeat_a_tool_long_enough_to_look_stuck(plans: list[SessionPlan]) -> None:
    repeats = FleetConfig().loop_repeats
    for plan in plans:
        run, previous = 0, None
        for turn in plan.turns:
            single = turn.tools[0] if len(set(turn.tools)) == 1 else None
            run = run + 1 if single is not None and single == previous else 1
            previous = single
            assert (turn.outcome is Outcome.LOOP) == (single is not None and run >= repeats)


def test_a_ramped_mode_grows_over_the_timeline() -> None:
    ramp = FailureMode("rising", Outcome.TRUNCATE, 0.5, tier="sonnet", ramp=True)
    config = FleetConfig(seed=2, sessions=400, modes=(ramp,))
    fired = collections.Counter()
    for plan in plan_sessions(config, builtin_price_table()):
        half = "late" if plan.start >= config.start + timedelta(days=config.days / 2) else "early"
        fired[half] += sum(turn.mode == "rising" for turn in plan.turns)
    assert fired["late"] > 2 * fired["early"] > 0


def test_fast_records_carry_what_the_proxy_records(plans: list[SessionPlan]) -> None:
    plan = next(p for p in plans if any(t.outcome is Outcome.TOOL_FAIL for t in p.turns[:-1]))
    turns, events = session_records(plan)
    assert all(turn.trace_id == session_trace_id(plan.session_id, b"") for turn in turns)
    assert [turn.requested_model for turn in turns] == [planned.model for planned in plan.turns]
    for planned, turn, following in zip(plan.turns, turns, [*turns[1:], None], strict=True):
        assert isinstance(turn, Turn) and turn.request_class == "main"
        assert turn.tool_use_names == (planned.tools if planned.status == 200 else ())
        if planned.outcome is Outcome.TOOL_FAIL and following is not None:
            failed = {turn.tool_use_ids[i] for i in planned.failing_calls}
            assert failed <= set(following.tool_result_error_ids)
    tool_events = [event for event in events if event["event_name"] == "claude_code.tool_result"]
    assert len(tool_events) == sum(len(turn.tool_use_ids) for turn in turns)
    assert {event["attributes"]["tool_use_id"] for event in tool_events} == {i for t in turns for i in t.tool_use_ids}


def test_run_fast_batches_the_records_and_writes_the_truth(tmp_path: Path) -> None:
    batches: list[tuple[int, int]] = []
    summary = run_fast(FleetConfig(seed=3, sessions=60), builtin_price_table(),
                       lambda turns, events: batches.append((len(turns), len(events))),
                       truth_path=tmp_path / "truth.csv", batch_turns=200)
    truth = pl.read_csv(tmp_path / "truth.csv", schema_overrides={"span_id": pl.String})
    assert tuple(truth.columns) == COLUMNS
    assert summary.turns == truth.height == sum(n for n, _ in batches) and len(batches) > 2
    assert summary.events == sum(n for _, n in batches)
    assert truth["span_id"].str.len_chars().unique().to_list() == [16]
    assert truth.group_by("session_id").agg(pl.col("seq").max() + 1 == pl.len())["seq"].all()
