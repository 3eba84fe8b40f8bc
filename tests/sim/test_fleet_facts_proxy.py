"""Proxy mode with a facts mix: a few sessions driven through the real proxy (uvicorn on loopback)
against the fake upstream; the thinking setting and tool count the proxy extracted from each
request, and recorded on its span, are the plan's."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from core.pricing import builtin_price_table
from core.spans import Turn
from sim.fleet_config import FleetConfig
from sim.fleet_plan import plan_sessions
from sim.fleet_presets import SEGMENTED_FACTS
from tests.gateway import fleet_through_gateway

# 6 short sessions (36 turns) with thinking on and off, core tools only and 29 or 41 tools offered
CONFIG = FleetConfig(seed=4, sessions=6, mean_turns=4.0, facts=SEGMENTED_FACTS)


def test_the_proxy_sees_the_planned_thinking_and_tool_count(tmp_path: Path) -> None:
    plans = list(plan_sessions(CONFIG, builtin_price_table()))
    seen = {(p.turns[0].thinking, p.turns[0].tool_count) for p in plans}
    assert {thinking for thinking, _ in seen} == {True, False} and len({count for _, count in seen}) >= 2, seen
    _, recorded = fleet_through_gateway(tmp_path, CONFIG, plans, slow_first_byte_s=0.05)
    by_session: dict[str | None, list[Turn]] = defaultdict(list)
    for turn in sorted(recorded, key=lambda t: t.start_ns):
        by_session[turn.session_id].append(turn)
    for plan in plans:
        seen = [(t.thinking, t.tool_count) for t in by_session[plan.session_id]]
        assert seen == [(t.thinking, t.tool_count) for t in plan.turns], plan.session_id
