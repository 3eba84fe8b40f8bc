"""The Turn record of one proxied call: request facts, the key's owner, the routing decision, the
fallback hops and what the SSE tap counted; and its compact form in the journal (a turn in flight,
which becomes an ``interrupted`` turn when the proxy dies before it finishes)."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import orjson

from core.facts import RequestFacts
from core.keys import claim_repo
from core.policy.schema import Target
from core.spans import Turn, session_trace_id

from .flow import Flow


def build_turn(flow: Flow, ids: tuple[bytes, bytes] | None = None) -> Turn:
    """The turn ``flow`` is (so far). ``ids`` (trace id, span id): those of the turn's start record,
    so both name one turn."""
    facts = flow.facts or RequestFacts()
    record, decision, outcome, result = flow.record, flow.decision, flow.outcome, flow.response
    summary = result.summary
    served = outcome.served_by or (decision.chain[0] if decision and decision.chain else None)
    end_perf = time.perf_counter_ns()
    trace_id, span_id = ids or (session_trace_id(facts.session_id, os.urandom(16)), os.urandom(8))
    return Turn(
        trace_id=trace_id,
        span_id=span_id,
        start_ns=flow.start_ns,
        end_ns=flow.start_ns + (end_perf - flow.start_perf),
        method=flow.method,
        path=flow.path,
        status_code=result.status,
        session_id=facts.session_id,
        developer=record.developer if record else None,
        team=record.team if record else None,
        repo=facts.repo,
        # the proxy refused any other repo (ProxyApp._authenticate): here it is only labelled
        repo_verified=claim_repo(record, facts.repo).verified,
        cli_version=facts.cli_version,
        agent_id=facts.agent_id,
        parent_agent_id=facts.parent_agent_id,
        request_class=facts.request_class,
        agent_type=facts.agent_type,
        prompt_id=facts.prompt_id,
        requested_model=facts.model,
        served_model=_served_model(served, summary.model if summary else None),
        response_id=summary.message_id if summary else None,
        upstream_request_id=result.upstream_request_id,
        target=served.name if served else None,
        region=served.region if served else None,
        provider=served.provider if served else None,
        policy_version=decision.version if decision else None,
        rule=decision.rule if decision else None,
        propensity=decision.propensity if decision else None,
        fallback_hops=outcome.fallback_hops,
        dropped_capabilities=flow.dropped(),
        estimated_input_tokens=facts.estimated_input_tokens,
        tool_count=facts.tool_count,
        thinking=facts.thinking,
        stream=facts.stream,
        input_tokens=summary.input_tokens if summary else 0,
        output_tokens=summary.output_tokens if summary else 0,
        cache_creation_tokens=summary.cache_creation_tokens if summary else 0,
        cache_creation_1h_tokens=summary.cache_creation_1h_tokens if summary else 0,
        cache_read_tokens=summary.cache_read_tokens if summary else 0,
        ttfb_ms=(result.first_byte_ns - flow.start_perf) / 1e6 if result.first_byte_ns else None,
        stop_reason=summary.stop_reason if summary else None,
        error_type=result.error_type,
        error_message=result.error_message,
        tool_use_ids=summary.tool_use_ids if summary else (),
        tool_use_names=summary.tool_use_names if summary else (),
        tool_result_ids=facts.tool_result_ids,
        tool_result_error_ids=facts.tool_result_error_ids,
        budget_state=flow.budget_state,
        guardrail=flow.guardrail,
        secret_findings=flow.secret_findings,
    )


def _served_model(target: Target | None, reported: str | None) -> str | None:
    """The model that served the turn. Bedrock reports Anthropic's id in its events, but what was
    invoked (and what it is priced by: a geographic profile costs more than a global one) is the
    target's inference profile."""
    if target is not None and target.provider in ("bedrock", "bedrock-mantle") and target.model:
        return target.model
    return reported or None


INTERRUPTED = "interrupted"
_BYTES_FIELDS = ("trace_id", "span_id")
_TUPLE_FIELDS = tuple(f.name for f in dataclasses.fields(Turn) if f.type.startswith("tuple"))


def _hex(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def turn_to_json(turn: Turn) -> bytes:
    """The journal's form of a turn in flight (orjson encodes the dataclass natively: a few µs)."""
    return orjson.dumps(turn, default=_hex)


def turn_from_json(data: bytes) -> Turn:
    """Inverse of :func:`turn_to_json`; raises ValueError/TypeError on a record that is not one."""
    values: dict[str, Any] = orjson.loads(data)
    for name in _BYTES_FIELDS:
        values[name] = bytes.fromhex(values[name])
    for name in _TUPLE_FIELDS:
        values[name] = tuple(values.get(name) or ())
    return Turn(**values)


def interrupted(turn: Turn, end_ns: int) -> Turn:
    """A turn the proxy never finished (it was killed mid-stream): what was known when it was last
    recorded, with status ``interrupted``. The upstream may still bill it, so it is exported."""
    return dataclasses.replace(
        turn, end_ns=max(end_ns, turn.start_ns), error_type=INTERRUPTED,
        error_message="the gateway stopped before this turn finished (recovered from its journal)")
