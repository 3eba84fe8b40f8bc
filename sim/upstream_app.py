"""The fake Anthropic API as an aiohttp application: routes, faults, pacing and the split writes.

Per request the work is one orjson parse, one prompt-prefix hash and a few small dumps, so the fake
stays cheap enough to sit behind the proxy in benchmarks without being the bottleneck.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from sim.anthropic_errors import error_body, error_event, error_headers
from sim.faults import FAULT_HEADER, Fault, FaultKind, FaultQueue, parse_faults
from sim.model_catalog import model_entry, model_list
from sim.paced_stream import Interruption, send_paced
from sim.paced_stream import split_point as split_point  # re-exported: tests import it from here
from sim.prompt_cache import estimate_tokens
from sim.reply_source import ReplySource
from sim.request_recorder import RecordedRequest, RequestRecorder
from sim.responses import message_json, stream_events
from sim.scripted_reply import SCRIPT_HEADER
from sim.upstream_config import UpstreamConfig

# Claude Code's bodies run to several MB (aiohttp's default limit is 1 MB).
MAX_BODY_BYTES = 64 * 1024 * 1024


class UpstreamService:
    """Request handlers plus the state one fake server owns (ids, prompt cache, faults, recorder)."""

    def __init__(self, config: UpstreamConfig, faults: FaultQueue[Fault], recorder: RequestRecorder) -> None:
        self.config = config
        self.faults = faults
        self.recorder = recorder
        self._replies = ReplySource(config)
        self._ids = self._replies.ids
        self._organization_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "switchyard-sim"))
        self._overload_draws = random.Random(0)

    async def _record(self, request: web.Request) -> bytes:
        body = await request.read()
        headers = tuple((key.decode("latin-1"), value.decode("latin-1")) for key, value in request.raw_headers)
        self.recorder.record(
            RecordedRequest(request.method, request.path, request.query_string, headers, body, time.time())
        )
        return body

    def _success_headers(self, request_id: str, content_type: str) -> dict[str, str]:
        reset = str(int(time.time()) + 5 * 3600)
        headers = {
            "content-type": content_type,
            "request-id": request_id,
            "anthropic-organization-id": self._organization_id,
            "anthropic-ratelimit-unified-status": "allowed",
            "anthropic-ratelimit-unified-reset": reset,
            "anthropic-ratelimit-unified-5h-status": "allowed",
            "anthropic-ratelimit-unified-5h-reset": reset,
            "anthropic-ratelimit-unified-representative-claim": "five_hour",
        }
        headers.update(self.config.extra_response_headers)
        return headers

    def _error(
        self, status: int, request_id: str, message: str | None = None, retry_after: int | None = None
    ) -> web.Response:
        return web.Response(
            status=status,
            body=error_body(status, request_id, message),
            headers=error_headers(status, request_id, retry_after),
        )

    def _authorised(self, request: web.Request) -> bool:
        expected = self.config.expected_api_key
        if expected is None:
            return True
        return (
            request.headers.get("x-api-key") == expected or request.headers.get("authorization") == f"Bearer {expected}"
        )

    async def messages(self, request: web.Request) -> web.StreamResponse:
        raw_body = await self._record(request)
        request_id = self._ids.request_id()
        spec = request.headers.get(FAULT_HEADER)
        try:
            faults = parse_faults(spec) if spec is not None else self.faults.pop()
        except ValueError as bad_spec:
            return self._error(400, request_id, f"{FAULT_HEADER}: {bad_spec}")
        by_kind = {fault.kind: fault for fault in faults}

        if slow := by_kind.get(FaultKind.SLOW_FIRST_BYTE):
            await asyncio.sleep(slow.value or 0.0)
        if FaultKind.DISCONNECT_BEFORE_RESPONSE in by_kind:
            # aiohttp then fails to send the returned response and drops it quietly.
            request.protocol.force_close()
            return web.Response()
        if http_error := by_kind.get(FaultKind.HTTP_ERROR):
            retry_after = http_error.retry_after_s
            if retry_after is None:
                retry_after = self.config.default_retry_after_s
            return self._error(int(http_error.value or 500), request_id, retry_after=retry_after)
        if not self._authorised(request):
            return self._error(401, request_id)
        if self.config.overloaded_share and self._overload_draws.random() < self.config.overloaded_share:
            return self._error(529, request_id)

        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError:
            return self._error(400, request_id, "The request body is not valid JSON.")
        problem = _messages_problem(body)
        if problem:
            return self._error(400, request_id, problem)
        try:
            script = self._replies.script(request.headers.get(SCRIPT_HEADER))
        except ValueError as bad_script:
            return self._error(400, request_id, f"{SCRIPT_HEADER}: {bad_script}")
        if script is not None and script.error_status is not None:
            return self._error(script.error_status, request_id)

        reply = self._replies.reply(body, raw_body, script)
        plan, usage = reply.plan, reply.usage
        model = self.config.model_override or body["model"]
        message_id = self._ids.message_id()
        if not body.get("stream"):
            return web.Response(
                body=message_json(plan, usage, model=model, message_id=message_id),
                headers=self._success_headers(request_id, "application/json"),
            )
        events = stream_events(
            plan,
            usage,
            model=model,
            message_id=message_id,
            text_deltas=self.config.text_deltas,
            context_management="context_management" in body,
        )
        response = web.StreamResponse(headers=self._success_headers(request_id, "text/event-stream; charset=utf-8"))
        response.headers["cache-control"] = "no-cache"
        try:
            await response.prepare(request)  # raises when the client left during a slow-first-byte wait
            await self._stream(request, response, events, by_kind, request_id)
        except ConnectionError:
            # The client went away (or we dropped it on purpose): nothing left to tell anyone.
            return response
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        events: list[bytes],
        by_kind: dict[FaultKind, Fault],
        request_id: str,
    ) -> None:
        cut = by_kind.get(FaultKind.DISCONNECT_MID_STREAM) or by_kind.get(FaultKind.ERROR_EVENT)
        interruption = None
        if cut is not None:
            cut_after = min(
                int(cut.value if cut.value is not None else self.config.events_before_fault), len(events) - 1
            )
            dropped = cut.kind is FaultKind.DISCONNECT_MID_STREAM
            interruption = Interruption(cut_after, None if dropped else error_event(request_id))
        await send_paced(request, response, events, self.config, interruption=interruption)

    async def count_tokens(self, request: web.Request) -> web.Response:
        raw_body = await self._record(request)
        request_id = self._ids.request_id()
        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError:
            return self._error(400, request_id, "The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._error(400, request_id, "messages: Field required")
        payload = orjson.dumps({"input_tokens": estimate_tokens(len(raw_body))})
        return web.Response(body=payload, headers=self._success_headers(request_id, "application/json"))

    async def list_models(self, request: web.Request) -> web.Response:
        await self._record(request)
        payload = orjson.dumps(model_list(self.config.models))
        return web.Response(body=payload, headers=self._success_headers(self._ids.request_id(), "application/json"))

    async def get_model(self, request: web.Request) -> web.Response:
        await self._record(request)
        request_id = self._ids.request_id()
        model_id = request.match_info["model_id"]
        entry = model_entry(model_id)
        if entry is None:
            return self._error(404, request_id, f"model: {model_id}")
        return web.Response(body=orjson.dumps(entry), headers=self._success_headers(request_id, "application/json"))

    async def not_found(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self._error(404, self._ids.request_id(), "Not Found")


def _messages_problem(body: Any) -> str | None:
    """The first thing the real API would reject with invalid_request_error, if any."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    if not isinstance(body.get("messages"), list):
        return "messages: Field required"
    if not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    return None


def create_upstream_app(
    config: UpstreamConfig, faults: FaultQueue[Fault] | None = None, recorder: RequestRecorder | None = None
) -> web.Application:
    service = UpstreamService(
        config,
        faults if faults is not None else FaultQueue(),
        recorder if recorder is not None else RequestRecorder(config.recorded_requests_limit),
    )
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/v1/messages", service.messages)
    app.router.add_post("/v1/messages/count_tokens", service.count_tokens)
    app.router.add_get("/v1/models", service.list_models)
    app.router.add_get("/v1/models/{model_id}", service.get_model)
    app.router.add_route("*", "/{tail:.*}", service.not_found)
    return app
