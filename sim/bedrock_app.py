"""The fake Bedrock as an aiohttp application: bedrock-runtime's InvokeModel, InvokeModelWithResponseStream
and CountTokens for Claude, and Bedrock Mantle's native Messages route, behind SigV4 (or a Bedrock API
key) checked like AWS checks it.

Order per model request, as on the real service: authenticate; injected faults; model id; body
(schema, then betas and beta-gated fields); thinking signatures; input length; answer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import uuid
from typing import Any

import orjson
from aiohttp import web

from sim.anthropic_errors import error_body, error_event, error_headers
from sim.anthropic_rules import invalid_signature_message, messages_body_problem, too_long_message
from sim.aws_errors import (
    CORAL_NAMESPACE,
    INPUT_TOO_LONG_MESSAGE,
    INVALID_API_KEY_MESSAGE,
    INVALID_MODEL_MESSAGE,
    NO_TOKEN_COUNTING_MESSAGE,
    STREAM_EXCEPTIONS,
    AwsError,
    aws_error_response,
    for_status,
    validation,
)
from sim.bedrock_answer import bedrock_events, event_frames, invoke_headers, stream_headers
from sim.bedrock_config import BedrockConfig, is_inference_profile
from sim.bedrock_rules import invoke_body_problem, malformed
from sim.event_stream import exception_frame
from sim.faults import FAULT_HEADER, FaultQueue
from sim.paced_stream import send_paced
from sim.prompt_cache import estimate_tokens
from sim.provider_capabilities import header_betas
from sim.provider_faults import ProviderFault, ProviderFaultKind, parse_bedrock_faults
from sim.provider_requests import before_answer, choose_faults, find, record_redacted, stream_controls
from sim.provider_signatures import refused_thinking, sign_plan
from sim.reply_source import ReplySource
from sim.request_recorder import RequestRecorder
from sim.responses import message_json, stream_events
from sim.scripted_reply import SCRIPT_HEADER
from sim.sigv4_check import ArrivedRequest, verify_sigv4
from sim.upstream_app import MAX_BODY_BYTES

# A script's Anthropic-only statuses in Bedrock's terms (Bedrock has no 529; its timeout is 408).
_SCRIPT_STATUS = {529: 503, 504: 408}
_CONTEXT_WINDOW_TOKENS = 200_000


def _parse(raw_body: bytes) -> tuple[Any, bool]:
    try:
        return orjson.loads(raw_body), True
    except orjson.JSONDecodeError:
        return None, False


class BedrockService:
    def __init__(self, config: BedrockConfig, faults: FaultQueue[ProviderFault], recorder: RequestRecorder) -> None:
        self.config = config
        self.faults = faults
        self.recorder = recorder
        self.replies = ReplySource(config.pacing)

    # -- authentication ------------------------------------------------------------------------------
    def _authenticate(self, request: web.Request, raw_body: bytes, service: str) -> AwsError | None:
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            offered = authorization[7:].encode()
            if any(hmac.compare_digest(offered, key.encode()) for key in self.config.api_keys):
                return None
            return AwsError(403, "AccessDeniedException", INVALID_API_KEY_MESSAGE, CORAL_NAMESPACE, "Message")
        headers = [(key.decode("latin-1"), value.decode("latin-1")) for key, value in request.raw_headers]
        return verify_sigv4(
            ArrivedRequest(request.method, request.raw_path, headers, raw_body),
            self.config.aws_keys,
            service=service,
            region=self.config.region_for(request.host),
            now=dt.datetime.now(dt.UTC),
            max_skew=dt.timedelta(seconds=self.config.max_clock_skew_s),
        )

    def _refused_thinking(self, body: dict[str, Any]) -> str | None:
        return refused_thinking(body, self.config.signature_provider, refuse=self.config.reject_foreign_signatures)

    def _too_long(self, raw_body: bytes) -> bool:
        limit = self.config.max_input_tokens
        return limit is not None and estimate_tokens(len(raw_body)) > limit

    # -- bedrock-runtime -------------------------------------------------------------------------------
    async def invoke(self, request: web.Request) -> web.StreamResponse:
        return await self._invoke(request, stream=False)

    async def invoke_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._invoke(request, stream=True)

    async def _invoke(self, request: web.Request, *, stream: bool) -> web.StreamResponse:
        raw_body = await record_redacted(request, self.recorder)
        request_id = str(uuid.uuid4())
        if refused := self._authenticate(request, raw_body, self.config.runtime_service):
            return aws_error_response(refused, request_id)
        try:
            faults = choose_faults(request, self.faults)
        except ValueError as bad_spec:
            return aws_error_response(validation(f"{FAULT_HEADER}: {bad_spec}"), request_id)
        if await before_answer(request, faults):
            return web.Response()
        if error := find(faults, ProviderFaultKind.HTTP_ERROR):
            return aws_error_response(for_status(error.status or 500), request_id)
        model_id = request.match_info["model_id"]
        body, parsed = _parse(raw_body)
        problem: str | None
        if not self.config.known_model(model_id):
            problem = INVALID_MODEL_MESSAGE
        elif not parsed:
            problem = malformed(["#: Unable to parse the request body as JSON"])
        else:
            header = header_betas(request.headers.get("anthropic-beta"))
            problem = invoke_body_problem(body, self.config.capabilities, header)
        if problem is None and (path := self._refused_thinking(body)):
            problem = f"{path}: Invalid signature in thinking block"
        if problem is None and (find(faults, ProviderFaultKind.TOO_LONG) or self._too_long(raw_body)):
            problem = INPUT_TOO_LONG_MESSAGE
        if problem is not None:
            return aws_error_response(validation(problem), request_id)
        try:
            script = self.replies.script(request.headers.get(SCRIPT_HEADER))
        except ValueError as bad_script:
            return aws_error_response(validation(f"{SCRIPT_HEADER}: {bad_script}"), request_id)
        if script is not None and script.error_status is not None:
            status = _SCRIPT_STATUS.get(script.error_status, script.error_status)
            return aws_error_response(for_status(status), request_id)

        served = self.config.served_model(model_id)
        reply = self.replies.reply({**body, "model": served}, raw_body, script)
        plan = sign_plan(reply.plan, self.config.signature_provider)
        message_id = "msg_bdrk_" + self.replies.ids.message_id()[len("msg_"):]
        pacing = self.config.pacing
        events = bedrock_events(plan, reply.usage, model=served, message_id=message_id, pacing=pacing,
                                context_management="context_management" in body)
        if not stream:
            metrics = events[-1]["amazon-bedrock-invocationMetrics"]
            return web.Response(
                body=message_json(plan, reply.usage, model=served, message_id=message_id),
                headers=invoke_headers(reply.usage, plan.output_tokens, request_id, metrics["invocationLatency"]),
            )
        frames, cuts = event_frames(events)

        def exception_for(fault: ProviderFault) -> bytes:
            kind = fault.exception_type or "modelStreamErrorException"
            return exception_frame(kind, STREAM_EXCEPTIONS[kind])

        interruption, silence = stream_controls(faults, len(frames), pacing.events_before_fault, exception_for)
        response = web.StreamResponse(headers=stream_headers(request_id))
        try:
            await response.prepare(request)
            await send_paced(request, response, frames, pacing, cut=cuts.get, interruption=interruption,
                             silence=silence)
        except ConnectionError:
            pass  # the client went away (or we dropped it on purpose)
        return response

    async def count_tokens(self, request: web.Request) -> web.Response:
        raw_body = await record_redacted(request, self.recorder)
        request_id = str(uuid.uuid4())
        if refused := self._authenticate(request, raw_body, self.config.runtime_service):
            return aws_error_response(refused, request_id)
        model_id = request.match_info["model_id"]
        if not self.config.known_model(model_id):
            return aws_error_response(validation(INVALID_MODEL_MESSAGE), request_id)
        if is_inference_profile(model_id):
            return aws_error_response(validation(NO_TOKEN_COUNTING_MESSAGE), request_id)
        inner, problem = _count_tokens_input(raw_body)
        if problem is None:
            header = header_betas(request.headers.get("anthropic-beta"))
            problem = invoke_body_problem(orjson.loads(inner), self.config.capabilities, header)
        if problem is not None:
            return aws_error_response(validation(problem), request_id)
        payload = orjson.dumps({"inputTokens": estimate_tokens(len(inner))})
        return web.Response(body=payload, headers={"content-type": "application/json", "x-amzn-RequestId": request_id})

    # -- Bedrock Mantle: the Messages API on AWS -----------------------------------------------------
    async def mantle_messages(self, request: web.Request) -> web.StreamResponse:
        raw_body = await record_redacted(request, self.recorder)
        request_id = self.replies.ids.request_id()
        if refused := self._authenticate(request, raw_body, self.config.mantle_service):
            return aws_error_response(refused, request_id)
        try:
            faults = choose_faults(request, self.faults)
        except ValueError as bad_spec:
            return self._anthropic_error(400, request_id, f"{FAULT_HEADER}: {bad_spec}")
        if await before_answer(request, faults):
            return web.Response()
        if error := find(faults, ProviderFaultKind.HTTP_ERROR):
            return self._anthropic_error(error.status or 500, request_id)
        body, parsed = _parse(raw_body)
        betas = header_betas(request.headers.get("anthropic-beta"))
        problem = messages_body_problem(body, self.config.mantle_capabilities, betas,
                                        required=("model", "max_tokens", "messages")) if parsed else None
        if not parsed:
            problem = "The request body is not valid JSON."
        if problem is None and (path := self._refused_thinking(body)):
            problem = invalid_signature_message(path)
        tokens = estimate_tokens(len(raw_body))
        if problem is None and (find(faults, ProviderFaultKind.TOO_LONG) or self._too_long(raw_body)):
            problem = too_long_message(tokens, self.config.max_input_tokens or _CONTEXT_WINDOW_TOKENS)
        if problem is not None:
            return self._anthropic_error(400, request_id, problem)
        try:
            script = self.replies.script(request.headers.get(SCRIPT_HEADER))
        except ValueError as bad_script:
            return self._anthropic_error(400, request_id, f"{SCRIPT_HEADER}: {bad_script}")
        if script is not None and script.error_status is not None:
            return self._anthropic_error(script.error_status, request_id)

        served = str(body["model"]).removeprefix("anthropic.")
        reply = self.replies.reply(body, raw_body, script)
        plan = sign_plan(reply.plan, self.config.signature_provider)
        message_id = self.replies.ids.message_id()
        headers = {"request-id": request_id}
        if not body.get("stream"):
            return web.Response(body=message_json(plan, reply.usage, model=served, message_id=message_id),
                                headers={**headers, "content-type": "application/json"})
        pacing = self.config.pacing
        events = stream_events(plan, reply.usage, model=served, message_id=message_id,
                               text_deltas=pacing.text_deltas, context_management="context_management" in body)
        interruption, silence = stream_controls(faults, len(events), pacing.events_before_fault,
                                                lambda _: error_event(request_id))
        response = web.StreamResponse(headers={**headers, "content-type": "text/event-stream; charset=utf-8",
                                               "cache-control": "no-cache"})
        try:
            await response.prepare(request)
            await send_paced(request, response, events, pacing, interruption=interruption, silence=silence)
        except ConnectionError:
            pass
        return response

    def _anthropic_error(self, status: int, request_id: str, message: str | None = None) -> web.Response:
        return web.Response(status=status, body=error_body(status, request_id, message),
                            headers=error_headers(status, request_id))

    async def not_found(self, request: web.Request) -> web.Response:
        await record_redacted(request, self.recorder)
        error = AwsError(404, "UnknownOperationException", f"No such operation: {request.method} {request.path}")
        return aws_error_response(error, str(uuid.uuid4()))


def _count_tokens_input(raw_body: bytes) -> tuple[bytes, str | None]:
    """The InvokeModel body inside ``{"input": {"invokeModel": {"body": <base64>}}}``, or the problem."""
    outer, parsed = _parse(raw_body)
    if not parsed or not isinstance(outer, dict):
        return b"", malformed(["#: expected type: JSONObject"])
    given = outer.get("input")
    if not isinstance(given, dict) or not isinstance(given.get("invokeModel"), dict):
        return b"", malformed(["#/input: required key [invokeModel] not found (the fake counts InvokeModel bodies)"])
    encoded = given["invokeModel"].get("body")
    try:
        inner = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except (binascii.Error, ValueError):
        inner = b""
    if not inner:
        return b"", malformed(["#/input/invokeModel/body: expected a base64-encoded InvokeModel body"])
    if not _parse(inner)[1]:
        return b"", malformed(["#/input/invokeModel/body: the decoded body is not JSON"])
    return inner, None


def create_bedrock_app(
    config: BedrockConfig,
    faults: FaultQueue[ProviderFault] | None = None,
    recorder: RequestRecorder | None = None,
) -> web.Application:
    service = BedrockService(
        config,
        faults if faults is not None else FaultQueue(parse_bedrock_faults),
        recorder if recorder is not None else RequestRecorder(config.pacing.recorded_requests_limit),
    )
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/model/{model_id:.+}/invoke-with-response-stream", service.invoke_stream)
    app.router.add_post("/model/{model_id:.+}/invoke", service.invoke)
    app.router.add_post("/model/{model_id:.+}/count-tokens", service.count_tokens)
    app.router.add_post("/anthropic/v1/messages", service.mantle_messages)
    app.router.add_route("*", "/{tail:.*}", service.not_found)
    return app

