"""One request's flow through the proxy: everything the steps (auth → facts → guardrails → budget →
decide → forward → tap → span) learn about it, on one object each step reads and adds to, in place
of locals passed between them. Modelled on mitmproxy's ``HTTPFlow``: the steps stay small and testable, and
whatever step fails, the last one (the span) sees exactly how far the request got."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.facts import RequestFacts
from core.keys import KeyRecord
from core.policy.facts import Decision, RouteFacts
from core.spans import Turn

from .asgi import Scope
from .chain import ChainOutcome
from .ledger import Hold
from .relay import ResponseState
from .routing import Routing

# LLM turns: routed by the policy, budgeted, and each one becomes a span.
TURN_PATH = "/v1/messages"
# Routed by the policy too (the count depends on the model), but neither budgeted nor a turn.
ROUTED_PATHS = frozenset({TURN_PATH, "/v1/messages/count_tokens"})


@dataclass(slots=True)
class Flow:
    # the request as it arrived
    method: str
    path: str  # as sent, which is canonical once the path check has passed: what is forwarded
    path_and_query: str
    headers: list[tuple[str, str]]
    header_map: dict[str, str]
    routing: Routing  # this request keeps this table, whatever reloads meanwhile
    start_ns: int = field(default_factory=time.time_ns)
    start_perf: int = field(default_factory=time.perf_counter_ns)
    # auth
    record: KeyRecord | None = None
    forward_own_key: bool = False
    # facts
    body: bytes = b""
    body_read: bool = False
    parsed: dict[str, Any] | None = None  # kept only while a provider kind may need it (take_parsed)
    facts: RequestFacts | None = None
    route_facts: RouteFacts | None = None
    # guardrails (proxy/guardrails.py): what the secret scanner did, its findings for the span
    guardrail: str | None = None
    secret_findings: tuple[str, ...] = ()
    # budget and decide
    decision: Decision | None = None
    budget_state: str | None = None
    budget_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    usage_headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # on a success only (relay.py)
    hold: Hold | None = None  # the turn's budget reservation: settled or released exactly once
    bodies: dict[str, bytes] = field(default_factory=dict)  # model -> body, for Anthropic-kind targets
    # forward, tap
    response: ResponseState = field(default_factory=ResponseState)
    outcome: ChainOutcome = field(default_factory=ChainOutcome)
    thinking_retried: bool = False
    # span
    started: Turn | None = None
    opened: int = 0

    @classmethod
    def of(cls, scope: Scope, routing: Routing) -> Flow:
        raw_path = scope.get("raw_path")
        path: str = raw_path.decode("latin-1") if raw_path else scope["path"]
        query = scope.get("query_string", b"")
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]]
        return cls(method=scope["method"], path=path,
                   path_and_query=path + "?" + query.decode("latin-1") if query else path,
                   headers=headers, header_map=dict(headers), routing=routing)

    @property
    def is_turn(self) -> bool:
        return self.method == "POST" and self.path == TURN_PATH

    @property
    def routed(self) -> bool:
        return self.method == "POST" and self.path in ROUTED_PATHS

    def take_parsed(self) -> dict[str, Any] | None:
        """The JSON body for a provider that rewrites it. The document parsed at the start is handed
        out once (to the first target that needs it) and not kept for the rest of the stream; a
        later hop parses the body again (fallbacks are rare; a parse is a fraction of a millisecond)."""
        parsed, self.parsed = self.parsed, None
        if parsed is not None:
            return parsed
        if not self.routed or not self.body:
            return None
        document = orjson.loads(self.body)
        return document if isinstance(document, dict) else None

    def dropped(self) -> tuple[str, ...]:
        dropped = self.response.dropped
        return (*dropped, "thinking:earlier-turns") if self.thinking_retried else dropped
