"""Pacing for benchmarks: a pause between events, a configurable number of text deltas, instant mode."""

from __future__ import annotations

import time

import pytest

from sim.upstream import FakeUpstream
from sim.upstream_config import UpstreamConfig
from tests.sim.wire import parse_sse, post_messages, simple_body


def timed_stream(config: UpstreamConfig) -> tuple[float, list[tuple[str, dict]]]:
    with FakeUpstream(config) as fake:
        started = time.monotonic()
        answer = post_messages(fake.port, simple_body())
        elapsed = time.monotonic() - started
    return elapsed, parse_sse(answer.body)


def test_events_are_spaced_by_the_interval() -> None:
    elapsed, events = timed_stream(UpstreamConfig(event_interval_s=0.02, text_deltas=1, split_write_pause_s=0))
    assert len(events) == 7
    assert elapsed >= 6 * 0.02


def test_text_deltas_set_the_event_count() -> None:
    _, events = timed_stream(UpstreamConfig(instant=True, text_deltas=18))
    assert len(events) == 24
    assert sum(name == "content_block_delta" for name, _ in events) == 18


def test_first_event_delay() -> None:
    elapsed, _ = timed_stream(UpstreamConfig(first_event_delay_s=0.15))
    assert elapsed >= 0.15


def test_instant_ignores_every_pause() -> None:
    config = UpstreamConfig(instant=True, event_interval_s=10, first_event_delay_s=10, split_write_pause_s=10)
    assert (config.pause_between_events_s, config.pause_before_first_event_s, config.pause_inside_split_s) == (0, 0, 0)
    _, events = timed_stream(config)  # would take minutes if any pause applied
    assert events[-1][0] == "message_stop"


@pytest.mark.parametrize("bad", [{"text_deltas": 0}, {"event_interval_s": -1}])
def test_config_rejects_nonsense(bad: dict) -> None:
    with pytest.raises(ValueError):
        UpstreamConfig(**bad)
