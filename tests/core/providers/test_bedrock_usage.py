"""Usage from wherever Bedrock puts it: cache counts may arrive only with message_stop's metrics."""

from __future__ import annotations

import orjson

from core.providers.event_stream import sse_event
from core.sse import StreamTap


def _event(payload: dict) -> bytes:
    return sse_event(payload["type"].encode(), orjson.dumps(payload))


def test_message_stop_metrics_fill_what_the_events_left_at_zero() -> None:
    tap = StreamTap()
    tap.feed(_event({"type": "message_start", "message": {"id": "m", "model": "claude-haiku-4-5-20251001",
                                                          "usage": {"input_tokens": 12, "output_tokens": 1}}}))
    tap.feed(_event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 40}}))
    tap.feed(_event({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 999, "outputTokenCount": 999, "cacheReadInputTokenCount": 3000,
        "cacheWriteInputTokenCount": 500, "invocationLatency": 900, "firstByteLatency": 300}}))
    summary = tap.summary()
    assert (summary.input_tokens, summary.output_tokens) == (12, 40)  # the model's own usage wins
    assert (summary.cache_read_tokens, summary.cache_creation_tokens) == (3000, 500)
    assert summary.complete
