"""The forward step: walk the decision's chain (proxy/chain.py), each attempt through the target's
provider kind (proxy/providers/), under the target's admission gate, relaying the answer (relay.py).

One retry lives here, because it is about the request and not the chain: a target that refuses the
thinking blocks of earlier turns (their signatures belong to another provider, after a fallback) is
asked once more without them, before any byte reached the client (core/providers/thinking.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import aiohttp
import orjson

from core.policy.schema import Target
from core.providers.thinking import is_signature_rejection, without_earlier_thinking
from core.sse import summarize_message

from .admission import Admission
from .asgi import Send
from .breaker import CircuitBreaker
from .chain import walk_chain
from .flow import Flow
from .providers.registry import Upstreams
from .providers.seam import Call
from .relay import HeldResponse, relay

_REJECTED = frozenset({400})


class Forwarder:
    def __init__(self, session: Callable[[], aiohttp.ClientSession | None], upstreams: Upstreams,
                 admission: Admission, breaker: CircuitBreaker) -> None:
        self._session = session
        self.upstreams = upstreams
        self._admission = admission
        self._breaker = breaker

    async def forward(self, flow: Flow, send: Send) -> None:
        decision = flow.decision
        assert decision is not None

        async def attempt(target: Target, hold: frozenset[int], trail: list[tuple[bytes, bytes]]) -> HeldResponse | int:
            return await self._attempt(flow, target, hold, trail + flow.budget_headers, send)

        async def respond(held: HeldResponse, trail: list[tuple[bytes, bytes]]) -> None:
            await self._respond(flow, held, trail + flow.budget_headers, send)

        flow.outcome = await walk_chain(decision.chain, flow.routing.compiled.policy.fallback, self._breaker,
                                        attempt, respond)

    def call(self, flow: Flow, target: Target) -> Call:
        """What one attempt at ``target`` sends: the body with the decision's model for an
        Anthropic-kind target; the parsed document for a provider that rewrites it."""
        assert flow.decision is not None
        model = flow.decision.model_for(target)
        if target.provider == "anthropic":
            body = flow.bodies.get(model, flow.body) if model is not None else flow.body
            return Call(flow.method, flow.path, flow.path_and_query, flow.headers, flow.header_map, body, model)
        return Call(flow.method, flow.path, flow.path_and_query, flow.headers, flow.header_map, flow.body, model,
                    parsed=flow.take_parsed())

    async def _attempt(self, flow: Flow, target: Target, hold: frozenset[int], extra: list[tuple[bytes, bytes]],
                       send: Send) -> HeldResponse | int:
        key = flow.routing.credential(target, flow.forward_own_key)  # refuses a target outside the allowlist
        if not target.uses_provider_key:
            key = None  # a cloud credential chain signs it (proxy/providers/aws.py, google.py)
        upstream = self.upstreams.of(target)
        session = self._session()
        assert session is not None
        call = self.call(flow, target)
        # A request that carries signed thinking may be refused for it: hold a 400 back to look at it.
        looks = flow.is_turn and 400 not in hold and b'"signature"' in flow.body
        async with self._admission.gate(target.name).slot():
            held = await relay(session, upstream, target, call, key, send, flow.response,
                               hold_statuses=hold | _REJECTED if looks else hold, extra_headers=extra,
                               usage_headers=flow.usage_headers)
            if held is None or held.status not in _REJECTED or 400 in hold:
                return held if held is not None else flow.response.status
            retry = _without_thinking(call, held)
            if retry is None:  # refused for another reason: relay the refusal as it came
                await self._respond(flow, held, extra, send)
                return held.status
            flow.thinking_retried = True
            held = await relay(session, upstream, target, retry, key, send, flow.response, hold_statuses=hold,
                               extra_headers=extra, usage_headers=flow.usage_headers)
            return held if held is not None else flow.response.status

    async def _respond(self, flow: Flow, held: HeldResponse, headers: list[tuple[bytes, bytes]], send: Send) -> None:
        await send({"type": "http.response.start", "status": held.status, "headers": held.headers + headers})
        await send({"type": "http.response.body", "body": held.body, "more_body": False})
        state = flow.response
        state.status = held.status
        state.summary = summarize_message(held.body)
        state.error_type = state.summary.error_type or f"http_{held.status}"
        state.error_message = state.summary.error_message


def _without_thinking(call: Call, held: HeldResponse) -> Call | None:
    """``call`` without the thinking blocks of earlier turns, when ``held`` refused their signatures
    and there are some to leave out; else None."""
    if not is_signature_rejection(held.status, held.body):
        return None
    parsed = call.parsed
    if parsed is None:
        try:
            document = orjson.loads(call.body)
        except orjson.JSONDecodeError:
            return None
        parsed = document if isinstance(document, dict) else None
    stripped = without_earlier_thinking(parsed) if parsed is not None else None
    if stripped is None:
        return None
    if call.parsed is not None:
        return replace(call, parsed=stripped)
    return replace(call, body=orjson.dumps(stripped))
