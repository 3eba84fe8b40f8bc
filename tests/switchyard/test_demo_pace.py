"""The demo's live developers at a human pace: tools run between a session's turns and a person
thinks between sessions, so in a few seconds each developer sends at most one session (≤ 4 turns),
where back-to-back developers send many. Driven against the fake Anthropic API on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from switchyard.demo import HUMAN_THINK_S, HUMAN_TOOL_S, DemoOptions, Tally, drive

DEVELOPERS = [("alice", "sk-sy-alice", "web"), ("bob", "sk-sy-bob", "api")]
SECONDS = 5.0
MAX_SESSION_TURNS = 4  # sim.client.run_session's bounded tool loop


def _drive(url: str, pace: str) -> tuple[Tally, float]:
    tally = Tally()
    options = DemoOptions(duration_s=SECONDS, live=False, pace=pace)  # type: ignore[arg-type]
    started = time.monotonic()
    asyncio.run(drive(url, DEVELOPERS, options, tally, None))
    return tally, time.monotonic() - started


@pytest.mark.timeout(120)
def test_human_developers_pause_where_back_to_back_ones_do_not() -> None:
    # the bound below rests on these: a session's turns alone outlast the run
    assert (MAX_SESSION_TURNS - 1) * HUMAN_TOOL_S[0] < SECONDS < HUMAN_THINK_S[0] + HUMAN_TOOL_S[0]
    with FakeUpstream(UpstreamConfig()) as upstream:
        fast, _ = _drive(upstream.base_url, "fast")
        human, took = _drive(upstream.base_url, "human")
    assert fast.errors == human.errors == 0
    # each human developer starts one session (after up to HUMAN_THINK_S[0] s) and then thinks
    assert human.count <= len(DEVELOPERS) * MAX_SESSION_TURNS, human.count
    assert fast.count > len(DEVELOPERS) * MAX_SESSION_TURNS, fast.count
    # a developer thinking when the end comes stops then, not after the 15-45 s pause
    assert took < SECONDS + HUMAN_THINK_S[0]
