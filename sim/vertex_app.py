"""The fake Vertex AI as an aiohttp application: Claude's ``:rawPredict`` / ``:streamRawPredict`` and
``count-tokens:rawPredict`` under ``/v1/projects/{project}/locations/{region}/publishers/anthropic/models/``.

Order per request, as on the real service: Google's front end (access token, then the resource named
by the URL: project, region, publisher, model, method), injected faults, then Claude's own checks
(betas in the ``anthropic-beta`` header, ``anthropic_version`` and the other body fields, thinking
signatures, input length), then the answer: Anthropic SSE or JSON, exactly the scripted events.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from aiohttp import web

from sim.anthropic_errors import error_body, error_event, error_headers
from sim.anthropic_rules import invalid_signature_message, messages_body_problem, too_long_message
from sim.faults import FAULT_HEADER, FaultQueue
from sim.google_errors import (
    INTERNAL_MESSAGE,
    UNAUTHENTICATED_MESSAGE,
    UNAVAILABLE_MESSAGE,
    google_error,
    model_not_found_message,
    permission_denied_message,
    quota_message,
)
from sim.paced_stream import send_paced
from sim.prompt_cache import estimate_tokens
from sim.provider_capabilities import header_betas
from sim.provider_faults import ProviderFault, ProviderFaultKind, parse_sse_faults
from sim.provider_requests import before_answer, choose_faults, find, record_redacted, stream_controls
from sim.provider_signatures import refused_thinking, sign_plan
from sim.reply_source import ReplySource
from sim.request_recorder import RequestRecorder
from sim.responses import message_json, stream_events
from sim.scripted_reply import SCRIPT_HEADER, Script
from sim.upstream_app import MAX_BODY_BYTES
from sim.vertex_config import COUNT_TOKENS_MODEL, VERTEX_VERSION, VertexConfig, quota_base_model, served_model

PREDICT_PATH = "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model_action}"
_METHODS = ("rawPredict", "streamRawPredict")
_CONTEXT_WINDOW_TOKENS = 200_000


class VertexService:
    def __init__(self, config: VertexConfig, faults: FaultQueue[ProviderFault], recorder: RequestRecorder) -> None:
        self.config = config
        self.faults = faults
        self.recorder = recorder
        self.replies = ReplySource(config.pacing)

    def _authorised(self, request: web.Request) -> bool:
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() != "bearer ":
            return False
        offered = authorization[7:].encode()
        return any(hmac.compare_digest(offered, token.encode()) for token in self.config.access_tokens)

    def _anthropic_error(self, status: int, request_id: str, message: str | None = None) -> web.Response:
        return web.Response(status=status, body=error_body(status, request_id, message),
                            headers=error_headers(status, request_id))

    def _front_door(self, request: web.Request) -> web.Response | None:
        """Google's checks before Claude sees anything: the token, then the resource the URL names."""
        info = request.match_info
        model, _, method = info["model_action"].rpartition(":")
        streaming = method == "streamRawPredict"
        if not self._authorised(request):
            return google_error(401, UNAUTHENTICATED_MESSAGE)
        resource = (f"projects/{info['project']}/locations/{info['location']}"
                    f"/publishers/{info['publisher']}/models/{model}")
        if info["project"] != self.config.project:
            return google_error(403, permission_denied_message(resource), streaming=streaming)
        if method not in _METHODS or (model == COUNT_TOKENS_MODEL and method != "rawPredict"):
            return google_error(404, f"Method not found: {info['model_action']}", streaming=streaming)
        known = model == COUNT_TOKENS_MODEL or self.config.known_model(model)
        if info["location"] != self.config.region or info["publisher"] != "anthropic" or not known:
            return google_error(404, model_not_found_message(resource), streaming=streaming)
        return None

    async def predict(self, request: web.Request) -> web.StreamResponse:
        raw_body = await record_redacted(request, self.recorder)
        request_id = "req_vrtx_" + self.replies.ids.request_id()[len("req_"):]
        if refused := self._front_door(request):
            return refused
        model, _, method = request.match_info["model_action"].rpartition(":")
        if model == COUNT_TOKENS_MODEL:
            return self._count_tokens(request, raw_body, request_id)
        streaming = method == "streamRawPredict"
        try:
            faults = choose_faults(request, self.faults)
        except ValueError as bad_spec:
            return google_error(400, f"{FAULT_HEADER}: {bad_spec}", streaming=streaming)
        if await before_answer(request, faults):
            return web.Response()
        if error := find(faults, ProviderFaultKind.HTTP_ERROR):
            return self._injected_error(error.status or 500, model, request_id, streaming)
        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError:
            return google_error(400, "Invalid JSON payload received. Unexpected token.", streaming=streaming)
        betas = header_betas(request.headers.get("anthropic-beta"))
        problem = messages_body_problem(body, self.config.capabilities, betas,
                                        required=("anthropic_version", "max_tokens", "messages"))
        if problem is None and body.get("anthropic_version") != VERTEX_VERSION:
            problem = f"anthropic_version: Input should be '{VERTEX_VERSION}'"
        refuse = self.config.reject_foreign_signatures
        if problem is None and (path := refused_thinking(body, self.config.signature_provider, refuse=refuse)):
            problem = invalid_signature_message(path)
        tokens = estimate_tokens(len(raw_body))
        limit = self.config.max_input_tokens
        if problem is None and (find(faults, ProviderFaultKind.TOO_LONG) or (limit is not None and tokens > limit)):
            problem = too_long_message(tokens, limit or _CONTEXT_WINDOW_TOKENS)
        if problem is not None:
            return self._anthropic_error(400, request_id, problem)
        try:
            script = self.replies.script(request.headers.get(SCRIPT_HEADER))
        except ValueError as bad_script:
            return self._anthropic_error(400, request_id, f"{SCRIPT_HEADER}: {bad_script}")
        if script is not None and script.error_status is not None:
            return self._anthropic_error(script.error_status, request_id)
        return await self._answer(request, body, raw_body, model, request_id, faults, script)

    async def _answer(self, request: web.Request, body: dict[str, Any], raw_body: bytes, model: str,
                      request_id: str, faults: tuple[ProviderFault, ...], script: Script | None) -> web.StreamResponse:
        served = served_model(model)
        reply = self.replies.reply({**body, "model": served}, raw_body, script)
        plan = sign_plan(reply.plan, self.config.signature_provider)
        message_id = "msg_vrtx_" + self.replies.ids.message_id()[len("msg_"):]
        if not body.get("stream"):
            return web.Response(body=message_json(plan, reply.usage, model=served, message_id=message_id),
                                headers={"content-type": "application/json"})
        pacing = self.config.pacing
        events = stream_events(plan, reply.usage, model=served, message_id=message_id,
                               text_deltas=pacing.text_deltas, context_management="context_management" in body)
        interruption, silence = stream_controls(faults, len(events), pacing.events_before_fault,
                                                lambda _: error_event(request_id))
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8",
                                               "cache-control": "no-cache"})
        try:
            await response.prepare(request)
            await send_paced(request, response, events, pacing, interruption=interruption, silence=silence)
        except ConnectionError:
            pass  # the client went away (or we dropped it on purpose)
        return response

    def _injected_error(self, status: int, model: str, request_id: str, streaming: bool) -> web.Response:
        if status == 429:
            return google_error(429, quota_message(quota_base_model(model)), streaming=streaming)
        if status == 503:
            return google_error(503, UNAVAILABLE_MESSAGE, streaming=streaming)
        if status in (400, 413, 504, 529):
            return self._anthropic_error(status, request_id)  # Claude's own answer, relayed by Vertex
        return google_error(status, INTERNAL_MESSAGE if status >= 500 else "Request failed.", streaming=streaming)

    def _count_tokens(self, request: web.Request, raw_body: bytes, request_id: str) -> web.Response:
        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError:
            return google_error(400, "Invalid JSON payload received. Unexpected token.")
        betas = header_betas(request.headers.get("anthropic-beta"))
        problem = messages_body_problem(body, self.config.count_tokens_capabilities, betas,
                                        required=("model", "messages"))
        if problem is None and not self.config.known_model(str(body["model"])):
            problem = f"model: {body['model']}"
        if problem is not None:
            return self._anthropic_error(400, request_id, problem)
        return web.Response(body=orjson.dumps({"input_tokens": estimate_tokens(len(raw_body))}),
                            headers={"content-type": "application/json"})

    async def not_found(self, request: web.Request) -> web.Response:
        await record_redacted(request, self.recorder)
        return google_error(404, f"The requested URL {request.path} was not found on this server.")


def create_vertex_app(
    config: VertexConfig,
    faults: FaultQueue[ProviderFault] | None = None,
    recorder: RequestRecorder | None = None,
) -> web.Application:
    service = VertexService(
        config,
        faults if faults is not None else FaultQueue(parse_sse_faults),
        recorder if recorder is not None else RequestRecorder(config.pacing.recorded_requests_limit),
    )
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post(PREDICT_PATH, service.predict)
    app.router.add_route("*", "/{tail:.*}", service.not_found)
    return app
