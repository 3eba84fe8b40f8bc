"""A reply in Bedrock's clothes: the Anthropic events as event-stream chunks (no pings: Bedrock's stream
has none), the usage Bedrock adds on ``message_stop`` (``amazon-bedrock-invocationMetrics``), and the
``X-Amzn-Bedrock-*`` headers of a non-streamed InvokeModel.
"""

from __future__ import annotations

from typing import Any

import orjson

from sim.agent_script import ReplyPlan
from sim.event_stream import chunk_frame
from sim.prompt_cache import InputUsage
from sim.responses import event_payloads
from sim.upstream_config import UpstreamConfig


def invocation_metrics(usage: InputUsage, output_tokens: int, latency_ms: int, first_byte_ms: int) -> dict[str, int]:
    return {
        "inputTokenCount": usage.input_tokens,
        "outputTokenCount": output_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": first_byte_ms,
        "cacheReadInputTokenCount": usage.cache_read_input_tokens,
        "cacheWriteInputTokenCount": usage.cache_creation_input_tokens,
    }


def bedrock_events(
    plan: ReplyPlan, usage: InputUsage, *, model: str, message_id: str, pacing: UpstreamConfig,
    context_management: bool,
) -> list[dict[str, Any]]:
    """The Anthropic events Bedrock streams for this reply, metrics on the last."""
    payloads = [
        payload
        for name, payload in event_payloads(
            plan, usage, model=model, message_id=message_id, text_deltas=pacing.text_deltas,
            context_management=context_management,
        )
        if name != "ping"
    ]
    # The fake's latency is what its pacing will take, so the numbers agree with what a client measures.
    first_byte_ms = round(pacing.pause_before_first_event_s * 1000)
    latency_ms = first_byte_ms + round(pacing.pause_between_events_s * 1000 * (len(payloads) - 1))
    payloads[-1] = {**payloads[-1], "amazon-bedrock-invocationMetrics": invocation_metrics(
        usage, plan.output_tokens, latency_ms, first_byte_ms)}
    return payloads


def event_frames(events: list[dict[str, Any]]) -> tuple[list[bytes], dict[bytes, int]]:
    """One chunk frame per event, and where to cut the frames whose text is multi-byte in two writes
    (mid-frame, so a decoder must buffer across reads, as with the SSE fakes' split characters)."""
    frames, cuts = [], {}
    for event in events:
        data = orjson.dumps(event)
        frame = chunk_frame(data)
        frames.append(frame)
        if not data.isascii():
            cuts[frame] = len(frame) // 2
    return frames, cuts


def invoke_headers(usage: InputUsage, output_tokens: int, request_id: str, latency_ms: int) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Bedrock-Invocation-Latency": str(latency_ms),
        "X-Amzn-Bedrock-Input-Token-Count": str(usage.input_tokens),
        "X-Amzn-Bedrock-Output-Token-Count": str(output_tokens),
        "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": str(usage.cache_read_input_tokens),
        "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": str(usage.cache_creation_input_tokens),
    }


def stream_headers(request_id: str) -> dict[str, str]:
    return {
        "content-type": "application/vnd.amazon.eventstream",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Bedrock-Content-Type": "application/json",
    }
