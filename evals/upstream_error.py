"""Upstream error: the call failed (an error status, an error type recorded by the proxy, or an
error event mid-stream), including "fallback exhausted" when every target in the chain failed.
Requests the proxy refused on purpose (bad key, over budget) are policy, not upstream failures,
and the client hanging up is the client's doing: both are labelled but not failed."""

from __future__ import annotations

from dataclasses import dataclass

from evals.protocol import Score, TurnContext

# error types the proxy records for its own refusals and for clients that went away
NOT_UPSTREAM = frozenset({
    "authentication_error", "permission_error", "budget_exceeded", "no_route", "invalid_request_error",
    "request_too_large", "client_disconnected",
})


@dataclass(frozen=True, slots=True)
class UpstreamErrorEvaluator:
    name: str = "upstream_error"
    version: str = "1"

    def score(self, ctx: TurnContext) -> Score:
        turn = ctx.turn
        error_type = turn.error_type
        if error_type is None and turn.status_code < 400:
            return Score(1.0, "ok")
        kind = error_type or f"http_{turn.status_code}"
        if kind in NOT_UPSTREAM:
            return Score(1.0, kind, "refused by the gateway or abandoned by the client, not an upstream failure")
        label = "fallback_exhausted" if turn.fallback_hops else kind
        hops = f" after trying {', '.join(turn.fallback_hops)}" if turn.fallback_hops else ""
        message = f": {turn.error_message}" if turn.error_message else ""
        return Score(0.0, label, f"{kind} (HTTP {turn.status_code}){hops}{message}"[:300])
