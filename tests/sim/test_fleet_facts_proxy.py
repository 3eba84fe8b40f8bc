"""Proxy mode with a facts mix: a few sessions driven through the real proxy (uvicorn on loopback)
against the fake upstream; the thinking setting and tool count the proxy extracted from each
request, and recorded on its span, are the plan's."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from core.pricing import builtin_price_table
from core.spans import Turn
from sim.fleet_client import run_through_proxy
from sim.fleet_config import FleetConfig, roster
from sim.fleet_plan import plan_sessions
from sim.fleet_presets import SEGMENTED_FACTS
from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from switchyard.keys_cli import create_key
from tests.gateway import PROVIDER_KEY, make_gateway, wait_for_key
from tests.loopback import serve_in_thread
from tests.otlp_receiver import OtlpReceiver

# 6 short sessions (36 turns) with thinking on and off, core tools only and 29 or 41 tools offered
CONFIG = FleetConfig(seed=4, sessions=6, mean_turns=4.0, facts=SEGMENTED_FACTS)


def test_the_proxy_sees_the_planned_thinking_and_tool_count(tmp_path: Path) -> None:
    plans = list(plan_sessions(CONFIG, builtin_price_table()))
    seen = {(p.turns[0].thinking, p.turns[0].tool_count) for p in plans}
    assert {thinking for thinking, _ in seen} == {True, False} and len({count for _, count in seen}) >= 2, seen
    expected = sum(len(plan.turns) for plan in plans)
    receiver = OtlpReceiver()
    with FakeUpstream(UpstreamConfig(expected_api_key=PROVIDER_KEY)) as upstream, \
            serve_in_thread(receiver, lifespan="off") as receiver_url:
        for gateway in make_gateway(tmp_path, upstream, (receiver, receiver_url)):
            keys = {developer.name: create_key(gateway.keys_file, developer.name, developer.team)
                    for developer in roster(CONFIG)}
            wait_for_key(gateway, keys[roster(CONFIG)[-1].name])
            run_through_proxy(plans, gateway.url, keys, concurrency=6, slow_first_byte_s=0.05)
            recorded = receiver.wait_for_turns(expected, timeout=30)
    by_session: dict[str | None, list[Turn]] = defaultdict(list)
    for turn in sorted(recorded, key=lambda t: t.start_ns):
        by_session[turn.session_id].append(turn)
    for plan in plans:
        seen = [(t.thinking, t.tool_count) for t in by_session[plan.session_id]]
        assert seen == [(t.thinking, t.tool_count) for t in plan.turns], plan.session_id
