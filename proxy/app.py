"""The proxy's ASGI application: auth → facts → guardrails → budget → decide → forward (with fallback)
→ tap → span.

A plain ASGI callable with a router of three branches; no framework sits on the streaming route.
Everything the hot path reads (key ring, routing table, spend) lives on the app instance and is
swapped by reference assignment, so a reload never blocks a request and an in-flight stream keeps
the policy it started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp
import httpx
import orjson

from core.facts import REPO_HEADER, RequestFacts, extract_facts
from core.keys import KeyRecord, KeyRing, claim_repo, parse_key
from core.paths import path_problem, shown
from core.policy.decide import decide
from core.policy.facts import Decision, RouteFacts
from core.price_memo import PriceMemo
from core.pricing import builtin_price_table
from core.ratelimit import TokenBucket, retry_after_header
from core.spans import Turn

from .admission import Admission
from .asgi import MountedApp, Receive, Scope, Send
from .bearer import BearerVerifier
from .breaker import CircuitBreaker
from .budget_gate import BudgetGate
from .caller_rules import allowed, attributed
from .client_telemetry import SIGNALS, TelemetryRelay, empty_answer
from .control import ControlPlane
from .dead_letters import DeadLetters
from .errors import ProxyError, error_body
from .exporter import SpanExporter
from .flow import ROUTED_PATHS, Flow
from .forward import Forwarder
from .guardrails import SecretGuard
from .headers import presented_key
from .inflight import InFlightTurns
from .journal import Journal
from .ledger import SpendLedger
from .managed_settings import ManagedSettingsEndpoint
from .metrics import ProxyMetrics
from .providers.registry import Upstreams
from .request import ClientGone, closing, parse_json, read_body, request_id, with_model
from .routing import Routing, RoutingError, builtin_policy, load_routing_file, routing_for
from .settings import ProxySettings
from .stats import ExportStats
from .turn_record import build_turn
from .upstream_resolver import AllowlistResolver

log = logging.getLogger("switchyard.proxy")

# Paths whose POST bodies are JSON the proxy reads (for facts) and rejects when malformed.
_JSON_PATHS = ("/v1/messages",)
# The caller's budgets in dollars, as Claude Code's /usage and status line read them (issue 18).
USAGE_PATH = "/api/oauth/usage"


class ProxyApp:
    def __init__(self, settings: ProxySettings, *, export_transport: httpx.AsyncBaseTransport | None = None,
                 signin: MountedApp | None = None, bearer: BearerVerifier | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        # What budgets read the time from (their periods' buckets and resets): the test seam for
        # "the day turns".
        self.clock = clock or partial(datetime.now, UTC)
        # /login (issue 18): the sign-in service's paths, and its bearer tokens beside virtual keys.
        self.signin = signin
        self.bearer = bearer
        self.provider_keys = settings.all_provider_keys()
        # one memo of the price table's answers: the tier asked per request, the cost of each turn
        self.prices = PriceMemo(builtin_price_table())
        self.tier_of = self.prices.tier_of
        # Per-turn spend is kept only to be reconciled with a snapshot's balances: none, nothing kept.
        self.ledger = SpendLedger(self.prices, self.clock, keep_local=settings.snapshot_url is not None)
        self.control = ControlPlane(settings, self.provider_keys, self.ledger, self._initial_routing())
        self.breaker = CircuitBreaker()
        self.admission = Admission(settings.max_in_flight_per_target, settings.max_queued_per_target)
        self._rate_buckets: dict[str, TokenBucket] = {}
        self.exporter: SpanExporter | None = None
        self.turns: InFlightTurns | None = None
        self.metrics = ProxyMetrics(lambda: self.exporter)
        self.budgets = BudgetGate(settings, self.prices, self.ledger, self.metrics, self.clock)
        self.guard = SecretGuard(settings, self.metrics)  # egress secrets: flag or block (proxy/guardrails.py)
        # Claude Code's gateway protocol beside the Messages API (issue 18): its managed settings and
        # its own OTLP telemetry on the base URL.
        self.managed_settings = ManagedSettingsEndpoint(self.metrics.registry)
        otlp_token = settings.otlp_token.get_secret_value() if settings.otlp_token is not None else None
        self.telemetry = TelemetryRelay(settings.otlp_endpoint, otlp_token, self.metrics.registry,
                                        transport=export_transport)
        self._export_transport = export_transport
        self._session: aiohttp.ClientSession | None = None
        self.forwarder = Forwarder(lambda: self._session, Upstreams(ping_every_s=settings.provider_ping_s),
                                   self.admission, self.breaker)
        self._background: list[asyncio.Task[None]] = []
        # Further loops to run while the app is up (the server's timed garbage collection).
        self.jobs: list[Callable[[], Coroutine[Any, Any, None]]] = []

    @property
    def routing(self) -> Routing:
        return self.control.routing

    @property
    def keyring(self) -> KeyRing:
        return self.control.keyring

    def _initial_routing(self) -> Routing:
        passthrough = self.settings.passthrough
        if self.settings.policy_file is not None:
            return load_routing_file(self.settings.policy_file, self.provider_keys, passthrough=passthrough)
        if "default" not in self.provider_keys and not passthrough:
            raise RoutingError(
                "no upstream key: set SWITCHYARD_UPSTREAM_API_KEY (or ANTHROPIC_API_KEY), "
                "SWITCHYARD_UPSTREAM_API_KEY_FILE, or SWITCHYARD_PASSTHROUGH=true"
            )
        return routing_for(builtin_policy(self.settings), self.provider_keys, passthrough=passthrough)

    # --- lifecycle -------------------------------------------------------------------------
    async def startup(self) -> None:
        # Names are resolved only for allowlisted hosts, and answers the allowlist does not allow
        # (link-local, metadata, private) are refused at connect time: DNS rebinding cannot carry a
        # provider key inside (proxy/upstream_resolver.py).
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60,
                                         resolver=AllowlistResolver(self.control.allowlist))
        timeout = aiohttp.ClientTimeout(
            total=None, connect=self.settings.connect_timeout_s, sock_read=self.settings.read_timeout_s
        )
        # auto_decompress off: bytes are relayed exactly as the upstream sent them.
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, trust_env=False
        )
        if self.settings.otlp_endpoint:
            self.exporter = self._span_exporter(self.settings.otlp_endpoint)
            await self.exporter.start()
            self.turns = InFlightTurns(self.exporter.journal)
            self._background.append(asyncio.create_task(self.turns.run(), name="switchyard-journal-checkpoint"))
        warm = self.budgets.start()
        if warm is not None:  # in the background: a Redis that is down or black-holed never delays start-up
            self._background.append(asyncio.create_task(warm, name="switchyard-redis-connect"))
        self._background.extend(await self.control.start())
        self._background.append(asyncio.create_task(self._check_provider_credentials(),
                                                    name="switchyard-provider-credentials"))
        self._background.extend(asyncio.create_task(job(), name="switchyard-job") for job in self.jobs)

    async def _check_provider_credentials(self) -> None:
        """Targets whose cloud credentials cannot be loaded are reported at start and skipped by the
        chain (their circuit opened) until they can: a missing AWS profile never fails a turn that
        has somewhere else to go, and never stops the proxy."""
        policy = self.routing.compiled.policy
        targets = tuple(t for t in policy.targets if not t.uses_provider_key)
        for name, why in (await self.forwarder.upstreams.problems(targets)).items():
            log.error("target %s is unhealthy: %s; the chain skips it for %.0f s at a time", name, why,
                      policy.fallback.cooldown_s)
            self.breaker.trip(name, policy.fallback.cooldown_s)

    def _span_exporter(self, endpoint: str) -> SpanExporter:
        settings = self.settings
        stats = ExportStats()
        journal = Journal(settings.spool_dir, max_bytes=settings.spool_max_bytes,
                          max_span_bytes=settings.max_span_bytes, resident=settings.export_queue_size, stats=stats)
        dead_letters = DeadLetters(settings.spool_dir / "dead-letters" if settings.spool_dir else None,
                                   settings.spool_max_bytes // 4, stats)
        token = settings.otlp_token.get_secret_value() if settings.otlp_token is not None else None
        return SpanExporter(endpoint, journal, dead_letters=dead_letters, batch_size=settings.export_batch_size,
                            interval_s=settings.export_interval_s, timeout_s=settings.export_timeout_s,
                            token=token, transport=self._export_transport)

    async def shutdown(self) -> None:
        for task in self._background:
            task.cancel()
        for task in self._background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.exporter is not None:
            await self.exporter.close()
        await self.telemetry.close()
        await self.control.close()
        await self.budgets.close()
        self.guard.close()
        if self._session is not None:
            await self._session.close()

    # --- ASGI ------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path in SIGNALS:
                await self._client_telemetry(scope, receive, send)
            elif path == "/managed/settings":
                await self._managed_settings(scope, send)
            elif path.startswith("/v1/"):
                await self._proxy(scope, receive, send)
            elif path in ("/healthz", "/readyz"):
                await _respond(send, 200, orjson.dumps({"status": "ok", "policy": self.routing.version}))
            elif path == "/metrics":
                await _respond(send, 200, self.metrics.render(), b"text/plain; version=0.0.4")
            elif path == USAGE_PATH:
                await self._usage(scope, send)
            elif self.signin is not None and self.signin.serves(path):
                await self.signin(scope, receive, send)
            else:
                await _respond(send, 404, error_body("not_found_error", f"no route for {path}", request_id()))
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # a boundary: report start-up failure to the server
                    log.exception("proxy start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        flow = Flow.of(scope, self.routing)
        refusal = _path_refusal(flow.method, flow.path)
        if refusal is not None:  # decided before anything else: nothing read, nothing forwarded
            self.metrics.requests.labels(code=str(refusal.status), origin="proxy").inc()
            await _respond(send, refusal.status, error_body(refusal.error_type, refusal.message, request_id()),
                           extra=[*refusal.headers, *closing(flow.header_map)])
            return
        try:
            # The credential comes from the headers alone: a caller without one is refused before a
            # byte of its body is read.
            flow.record, flow.forward_own_key = self._authenticate(flow.header_map)
            await self._read_facts(flow, receive)
            await self.guard.inspect(flow)
            await self._decide(flow)
            if flow.is_turn and self.turns is not None:  # journaled from here: a crash now leaves it "interrupted"
                flow.started = self._turn(flow)
                flow.opened = self.turns.begin(flow.started, flow.response)
            await self._watching_client(receive, self.forwarder.forward(flow, send))
            self.metrics.requests.labels(code=str(flow.response.status or flow.outcome.status), origin="upstream").inc()
        except ProxyError as exc:
            state = flow.response
            state.status, state.error_type, state.error_message = exc.status, exc.error_type, exc.message
            self.metrics.requests.labels(code=str(exc.status), origin="proxy").inc()
            await _respond(send, exc.status, error_body(exc.error_type, exc.message, request_id()),
                           extra=exc.headers if flow.body_read else [*exc.headers, *closing(flow.header_map)])
        except ClientGone:
            flow.response.error_type = "client_disconnected"
            flow.response.error_message = "the client went away before the request was complete"
        except Exception as exc:  # the boundary: log it, answer in Anthropic's shape if still possible
            log.exception("unexpected failure proxying %s %s", flow.method, flow.path)
            flow.response.error_type = "proxy_error"
            flow.response.error_message = type(exc).__name__
            self.metrics.requests.labels(code="500", origin="proxy").inc()
            if not flow.response.status:
                flow.response.status = 500
                await _respond(send, 500, error_body("api_error", "internal gateway error", request_id()))
        except BaseException:  # cancelled (shutdown): nothing below runs, so give the budget back here
            if flow.hold is not None:
                self.ledger.release(flow.hold)  # (its Redis twin expires on its own)
            raise
        if flow.is_turn:
            await self._span(flow)

    @staticmethod
    def _headers(scope: Scope) -> dict[str, str]:
        return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}

    async def _managed_settings(self, scope: Scope, send: Send) -> None:
        """GET /managed/settings (proxy/managed_settings.py): the caller's group's document."""
        try:
            if scope["method"] not in ("GET", "HEAD"):
                raise ProxyError("invalid_request_error", "/managed/settings accepts only GET", status=405,
                                 headers=[(b"allow", b"GET")])
            headers = self._headers(scope)
            record, _ = self._authenticate(headers, model_request=False)
            if record is None:  # pass-through without a switchyard credential: nobody's settings to serve
                raise ProxyError("authentication_error", "managed settings need a switchyard credential "
                                 "(a /login bearer or a virtual key)")
        except ProxyError as exc:
            await _respond(send, exc.status, error_body(exc.error_type, exc.message, request_id()), extra=exc.headers)
            return
        answer = self.managed_settings.answer(self.routing.compiled.policy, record, headers.get("if-none-match"))
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [*answer.headers, (b"content-length", str(len(answer.body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else answer.body})

    async def _client_telemetry(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/metrics|logs|traces (proxy/client_telemetry.py): authenticated from the headers
        before the body is read, bounded, 200 whether it is kept or dropped."""
        headers = self._headers(scope)
        try:
            if scope["method"] != "POST":
                raise ProxyError("invalid_request_error", f"{scope['path']} accepts only POST", status=405,
                                 headers=[(b"allow", b"POST")])
            # not counted against the key's requests a minute: a CLI's periodic export must not
            # starve its model requests (the relay's own bounds hold the load: proxy/client_telemetry.py)
            record, _ = self._authenticate(headers, model_request=False)
            if record is None:  # pass-through without a switchyard credential: nobody to attribute it to
                raise ProxyError("authentication_error", "telemetry needs a switchyard credential "
                                 "(a /login bearer or a virtual key)")
            body = await read_body(receive, headers, self.settings.telemetry_max_body_bytes)
        except ProxyError as exc:
            self.metrics.requests.labels(code=str(exc.status), origin="proxy").inc()
            await _respond(send, exc.status, error_body(exc.error_type, exc.message, request_id()),
                           extra=[*exc.headers, *closing(headers)])
            return
        except ClientGone:
            return
        self.telemetry.relay(SIGNALS[scope["path"]], body, headers, record)
        answer, content_type = empty_answer(headers.get("content-type"))
        await _respond(send, 200, answer, content_type)

    async def _usage(self, scope: Scope, send: Send) -> None:
        """``GET /api/oauth/usage``: the caller's budgets (a /login bearer or a virtual key), from
        this proxy's ledger. The credential is checked from the headers (as for a model request);
        no body is read."""
        headers = {n.decode("latin-1").lower(): v.decode("latin-1") for n, v in scope["headers"]}
        try:
            if scope["method"] != "GET":
                raise ProxyError("invalid_request_error", f"{USAGE_PATH} accepts only GET", status=405,
                                 headers=[(b"allow", b"GET")])
            record, _ = self._authenticate(headers, model_request=False)  # a read about oneself: no body, not counted
        except ProxyError as exc:
            await _respond(send, exc.status, error_body(exc.error_type, exc.message, request_id()),
                           extra=[*exc.headers, *closing(headers)])
            return
        await _respond(send, 200, orjson.dumps(self.budgets.usage(self.routing, record)),
                       extra=[(b"cache-control", b"no-store")])

    async def _read_facts(self, flow: Flow, receive: Receive) -> None:
        """Facts: the body within its limit, JSON where the proxy reads it, what routing looks at."""
        flow.body = await read_body(receive, flow.header_map, self.settings.max_body_bytes)
        flow.body_read = True
        if flow.method == "POST" and flow.path.startswith(_JSON_PATHS):
            flow.parsed = parse_json(flow.body)
        flow.facts = extract_facts(flow.header_map, flow.parsed, len(flow.body))
        flow.route_facts = self._route_facts(flow.facts, flow.record)

    async def _decide(self, flow: Flow) -> None:
        """Decide (and, for a turn, hold its budget), then make the bodies the chain may send."""
        routing = flow.routing
        assert flow.facts is not None and flow.route_facts is not None
        if not flow.routed:
            flow.decision = Decision(chain=routing.default_chain(), rule="side-endpoint", version=routing.version,
                                     propensity=1.0)
            return
        decision = decide(routing.compiled, flow.route_facts)
        if routing.compiled.access:
            decision = allowed(routing, flow.route_facts, flow.facts, decision)
        if flow.is_turn:
            (decision, flow.budget_state, flow.budget_headers, flow.hold,
             flow.usage_headers) = await self.budgets.admit(routing, flow.route_facts, decision, flow.facts)
        flow.decision = decision
        # Bodies for the models the chain's Anthropic-kind targets may ask for, built now; the parsed
        # JSON (about twice the body's size) is kept only when the first target is another provider's,
        # which rewrites it (flow.take_parsed).
        models = {decision.model_for(t) for t in decision.chain if t.provider == "anthropic"}
        flow.bodies = {model: with_model(flow.body, flow.parsed, model) for model in models if model is not None}
        if not decision.chain or decision.chain[0].provider == "anthropic":
            flow.parsed = None

    def _turn(self, flow: Flow, *, finished: bool = False) -> Turn:
        ids = (flow.started.trace_id, flow.started.span_id) if finished and flow.started else None
        return build_turn(flow, ids=ids)

    async def _span(self, flow: Flow) -> None:
        """The turn's span, its spend accounted and its budget hold settled."""
        try:
            turn = self._turn(flow, finished=True)
            if self.turns is not None:
                self.turns.finish(flow.opened, turn)
            if turn.ttfb_ms is not None:
                self.metrics.ttfb.observe(turn.ttfb_ms / 1000)
            await self.budgets.account(turn, flow.hold)
        finally:  # whatever failed above, a reservation never outlives its turn
            if flow.hold is not None and flow.hold.open:
                await self.budgets.release(flow.hold)

    def _authenticate(self, headers: dict[str, str], *, model_request: bool = True) -> tuple[KeyRecord | None, bool]:
        """The developer's key record (None in pass-through) and whether the client's own
        credential is forwarded (pass-through) instead of the target's provider key.

        A key that lists its repos may tag only those (403 otherwise, from the headers alone); when
        it lists one and the request names none, ``headers`` gets that one, so the facts, budgets
        and span read it like a header the client sent. ``model_request``: False for the protocol's
        side endpoints (settings, telemetry, usage), which are about the caller, name no repo and do
        not take one of the key's requests a minute."""
        presented = presented_key(headers)
        if self.bearer is not None and presented is not None and self.bearer.claims(presented):
            # a /login bearer (proxy/bearer.py); 401 if bad. It never names another developer.
            return attributed(self.bearer.authenticate(presented), headers), False
        if self.settings.passthrough and (presented is None or parse_key(presented) is None):
            attributed(None, headers)
            return None, True
        if presented is None:
            raise ProxyError("authentication_error",
                             "x-api-key header or Authorization: Bearer is required (a switchyard virtual key)")
        record = self.keyring.authenticate(presented)
        if record is None:
            hint = "" if len(self.keyring) else " (this gateway has no virtual keys yet: `switchyard keys create`)"
            raise ProxyError("authentication_error", "invalid x-api-key" + hint)
        record = attributed(record, headers)  # a fronting gateway's key may name the developer
        if not model_request:
            return record, False
        claim = claim_repo(record, headers.get(REPO_HEADER))
        if claim.refused is not None:
            raise ProxyError("permission_error", claim.refused)
        if claim.repo is not None:
            headers[REPO_HEADER] = claim.repo
        if record.rate_limit_rpm is not None:
            self._check_rate(record)
        return record, False

    def _check_rate(self, record: KeyRecord) -> None:
        assert record.rate_limit_rpm is not None
        now = time.monotonic()
        bucket = self._rate_buckets.get(record.key_id)
        if bucket is None or bucket.per_minute != record.rate_limit_rpm:
            bucket = self._rate_buckets[record.key_id] = TokenBucket.full(record.rate_limit_rpm, now)
        wait = bucket.take(now)
        if wait:
            raise ProxyError(
                "rate_limit_error",
                f"this key is limited to {record.rate_limit_rpm} requests a minute by the gateway",
                headers=[(b"retry-after", retry_after_header(wait).encode()), (b"x-should-retry", b"true")],
            )

    def _route_facts(self, facts: RequestFacts, record: KeyRecord | None) -> RouteFacts:
        return RouteFacts(
            input_tokens=facts.estimated_input_tokens, tool_count=facts.tool_count,
            requested_tier=self.tier_of(facts.model), thinking=facts.thinking,
            request_class=facts.request_class, agent_type=facts.agent_type,
            developer=record.developer if record else None, team=record.team if record else None,
            repo=facts.repo, session_id=facts.session_id, groups=record.groups if record else (),
        )

    async def _watching_client(self, receive: Receive, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (a coroutine relaying the response) while watching for the client to
        disconnect: a client that goes away cancels the upstream request instead of leaving it
        running to completion."""
        task = asyncio.current_task()
        assert task is not None
        finished = False

        async def watch() -> None:
            message = await receive()
            if message["type"] == "http.disconnect" and not finished:
                task.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await work
        except asyncio.CancelledError:
            if watcher.done() and not watcher.cancelled() and task.uncancel() == 0:
                raise ClientGone() from None
            raise
        finally:
            finished = True
            watcher.cancel()


def _path_refusal(method: str, path: str) -> ProxyError | None:
    """Why the proxy will not forward ``method path``, or None. Only the canonical spelling of a path
    is forwarded (core/paths.py), and the routed endpoints only as POST: anything else that some
    upstream might read as a turn would be a turn the budget and the spans never saw."""
    problem = path_problem(path, ROUTED_PATHS)
    if problem is not None:
        return ProxyError("invalid_request_error",
                          f"path {shown(path)} refused: {problem}; the gateway forwards only canonical paths",
                          status=400)
    if path in ROUTED_PATHS and method != "POST":
        return ProxyError("invalid_request_error", f"{path} accepts only POST, not {shown(method)}", status=405,
                          headers=[(b"allow", b"POST")])
    return None


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes = b"application/json",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body, "more_body": False})
