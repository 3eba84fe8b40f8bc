"""The Turn record (one LLM call) and its OTLP span form.

Every attribute name lives here: the gen_ai.* names are still "Development" status in the
OpenTelemetry semantic conventions, so a rename upstream is one edit in this module.
The proxy builds Turns and exports them as spans; ingest decodes spans back into Turns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

# --- gen_ai semantic conventions -------------------------------------------------------------
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
# gen_ai.usage.input_tokens is the SUM of uncached, cache-write and cache-read input tokens;
# Anthropic's own usage.input_tokens is only the uncached part.
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
URL_PATH = "url.path"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVICE_NAME = "service.name"

# --- switchyard's own ------------------------------------------------------------------------
SY_DEVELOPER = "switchyard.developer"
SY_TEAM = "switchyard.team"
SY_REPO = "switchyard.repo"
SY_REPO_VERIFIED = "switchyard.repo_verified"
SY_CLI_VERSION = "switchyard.cli_version"
SY_PARENT_AGENT_ID = "switchyard.parent_agent_id"
SY_REQUEST_CLASS = "switchyard.request_class"
SY_AGENT_TYPE = "switchyard.agent_type"
SY_PROMPT_ID = "switchyard.prompt_id"
SY_TARGET = "switchyard.target"
SY_REGION = "switchyard.region"
SY_PROVIDER = "switchyard.provider"
SY_DROPPED_CAPABILITIES = "switchyard.dropped_capabilities"
SY_POLICY_VERSION = "switchyard.policy_version"
SY_RULE = "switchyard.rule"
SY_PROPENSITY = "switchyard.propensity"
SY_FALLBACK_HOPS = "switchyard.fallback_hops"
SY_UNCACHED_INPUT_TOKENS = "switchyard.usage.uncached_input_tokens"
SY_CACHE_CREATION_1H_TOKENS = "switchyard.usage.cache_creation_1h.input_tokens"
SY_ESTIMATED_INPUT_TOKENS = "switchyard.estimated_input_tokens"
SY_TOOL_COUNT = "switchyard.tool_count"
SY_THINKING = "switchyard.thinking"
SY_STREAM = "switchyard.stream"
SY_TTFB_MS = "switchyard.ttfb_ms"
SY_TOOL_USE_IDS = "switchyard.tool_use.ids"
SY_TOOL_USE_NAMES = "switchyard.tool_use.names"
SY_TOOL_RESULT_IDS = "switchyard.tool_result.ids"
SY_TOOL_RESULT_ERROR_IDS = "switchyard.tool_result.error_ids"
SY_ERROR_MESSAGE = "switchyard.error.message"
SY_UPSTREAM_REQUEST_ID = "switchyard.upstream_request_id"
SY_BUDGET_STATE = "switchyard.budget.state"
BUDGET_EVENT_PREFIX = "switchyard.budget."
SY_GUARDRAIL = "switchyard.guardrail"
SY_SECRET_FINDINGS = "switchyard.guardrail.findings"
GUARDRAIL_EVENT_PREFIX = "switchyard.guardrail."

SCOPE_NAME = "switchyard.proxy"
SPAN_NAME_PREFIX = "chat"


@dataclass(slots=True, kw_only=True)
class Turn:
    """One upstream LLM call as the gateway saw it. Token fields follow Anthropic's meaning:
    ``input_tokens`` is the uncached input only; the gen_ai total is :attr:`total_input_tokens`."""

    trace_id: bytes
    span_id: bytes
    start_ns: int
    end_ns: int
    method: str = "POST"
    path: str = "/v1/messages"
    status_code: int = 0
    session_id: str | None = None
    developer: str | None = None
    team: str | None = None
    repo: str | None = None
    # True when the developer's key lists the repos it may tag and this one is among them; False
    # when the repo is the client's word (a key without a list, or with "*"). None: not recorded.
    repo_verified: bool | None = None
    cli_version: str | None = None
    agent_id: str | None = None
    parent_agent_id: str | None = None
    request_class: str | None = None
    agent_type: str | None = None
    prompt_id: str | None = None
    requested_model: str | None = None
    served_model: str | None = None
    response_id: str | None = None
    upstream_request_id: str | None = None
    target: str | None = None
    region: str | None = None
    # the served target's provider kind (anthropic, bedrock, bedrock-mantle, vertex): prices differ
    provider: str | None = None
    server_address: str | None = None
    policy_version: str | None = None
    rule: str | None = None
    propensity: float | None = None
    fallback_hops: tuple[str, ...] = ()
    # what the proxy left out for the serving provider (capabilities.yaml), and "thinking:earlier-turns"
    # when it retried without earlier turns' thinking blocks (core/providers/thinking.py)
    dropped_capabilities: tuple[str, ...] = ()
    estimated_input_tokens: int | None = None
    tool_count: int | None = None
    thinking: bool | None = None
    stream: bool | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    # the part of cache_creation_tokens written with the 1-hour TTL (priced 2x instead of 1.25x)
    cache_creation_1h_tokens: int = 0
    ttfb_ms: float | None = None
    stop_reason: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    tool_use_ids: tuple[str, ...] = ()
    tool_use_names: tuple[str, ...] = ()
    tool_result_ids: tuple[str, ...] = ()
    tool_result_error_ids: tuple[str, ...] = ()
    # "soft" or "hard" when a budget threshold was crossed for this turn's principal
    budget_state: str | None = None
    # what the egress secret guardrail did (core/secrets/verdict.py): flagged | blocked | allowed |
    # unscanned | failed_open | failed_closed; None when it found nothing (or is off)
    guardrail: str | None = None
    # its findings, each a compact JSON object (rule, where, line, offset, fingerprint): never the secret
    secret_findings: tuple[str, ...] = ()

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_tokens + self.cache_read_tokens

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def ok(self) -> bool:
        return self.error_type is None and 200 <= self.status_code < 400


def session_trace_id(session_id: str | None, fallback: bytes) -> bytes:
    """All turns of one session share a trace: the trace id is derived from the session id.
    Without a session id the turn gets its own trace (``fallback``, 16 random bytes)."""
    if not session_id:
        return fallback
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()[:16]


# (Turn field, attribute name) for the plain scalar attributes; the token and list fields are
# mapped explicitly below because their meaning differs between the two forms.
_SCALAR_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("method", HTTP_REQUEST_METHOD),
    ("path", URL_PATH),
    ("status_code", HTTP_RESPONSE_STATUS_CODE),
    ("session_id", GEN_AI_CONVERSATION_ID),
    ("agent_id", GEN_AI_AGENT_ID),
    ("requested_model", GEN_AI_REQUEST_MODEL),
    ("served_model", GEN_AI_RESPONSE_MODEL),
    ("response_id", GEN_AI_RESPONSE_ID),
    ("server_address", SERVER_ADDRESS),
    ("error_type", ERROR_TYPE),
    ("developer", SY_DEVELOPER),
    ("team", SY_TEAM),
    ("repo", SY_REPO),
    ("repo_verified", SY_REPO_VERIFIED),
    ("cli_version", SY_CLI_VERSION),
    ("parent_agent_id", SY_PARENT_AGENT_ID),
    ("request_class", SY_REQUEST_CLASS),
    ("agent_type", SY_AGENT_TYPE),
    ("prompt_id", SY_PROMPT_ID),
    ("upstream_request_id", SY_UPSTREAM_REQUEST_ID),
    ("target", SY_TARGET),
    ("region", SY_REGION),
    ("provider", SY_PROVIDER),
    ("policy_version", SY_POLICY_VERSION),
    ("rule", SY_RULE),
    ("propensity", SY_PROPENSITY),
    ("estimated_input_tokens", SY_ESTIMATED_INPUT_TOKENS),
    ("tool_count", SY_TOOL_COUNT),
    ("thinking", SY_THINKING),
    ("stream", SY_STREAM),
    ("ttfb_ms", SY_TTFB_MS),
    ("error_message", SY_ERROR_MESSAGE),
    ("budget_state", SY_BUDGET_STATE),
    ("guardrail", SY_GUARDRAIL),
    ("output_tokens", GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_creation_tokens", GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
    ("cache_read_tokens", GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    ("input_tokens", SY_UNCACHED_INPUT_TOKENS),
    ("cache_creation_1h_tokens", SY_CACHE_CREATION_1H_TOKENS),
)
_LIST_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("fallback_hops", SY_FALLBACK_HOPS),
    ("dropped_capabilities", SY_DROPPED_CAPABILITIES),
    ("tool_use_ids", SY_TOOL_USE_IDS),
    ("tool_use_names", SY_TOOL_USE_NAMES),
    ("tool_result_ids", SY_TOOL_RESULT_IDS),
    ("tool_result_error_ids", SY_TOOL_RESULT_ERROR_IDS),
    ("secret_findings", SY_SECRET_FINDINGS),
)


def set_value(target: AnyValue, value: object) -> None:
    """Write a Python scalar or sequence of scalars into an OTLP AnyValue in place (in-place
    ``add()``/assignment is several times cheaper than building messages with constructors)."""
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, list | tuple):
        array = target.array_value
        for item in value:
            set_value(array.values.add(), item)
    else:
        raise TypeError(f"unsupported attribute value type: {type(value).__name__}")


def any_value(value: object) -> AnyValue:
    """A Python scalar or sequence of scalars as an OTLP AnyValue."""
    result = AnyValue()
    set_value(result, value)
    return result


def python_value(value: AnyValue) -> object:
    """An OTLP AnyValue as a Python value (None when unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [python_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: python_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _add(span: Span, key: str, value: object) -> None:
    attribute = span.attributes.add()
    attribute.key = key
    set_value(attribute.value, value)


def fill_span(span: Span, turn: Turn) -> None:
    """Write ``turn`` into an (empty) span message, e.g. one just added to a batch."""
    span.trace_id = turn.trace_id
    span.span_id = turn.span_id
    span.name = f"{SPAN_NAME_PREFIX} {turn.served_model or turn.requested_model or turn.path}"
    span.kind = Span.SPAN_KIND_CLIENT
    span.start_time_unix_nano = turn.start_ns
    span.end_time_unix_nano = turn.end_ns
    _add(span, GEN_AI_PROVIDER_NAME, "anthropic")
    _add(span, GEN_AI_OPERATION_NAME, "chat")
    _add(span, GEN_AI_USAGE_INPUT_TOKENS, turn.total_input_tokens)
    for name, key in _SCALAR_ATTRIBUTES:
        value = getattr(turn, name)
        if value is not None:
            _add(span, key, value)
    if turn.stop_reason is not None:
        _add(span, GEN_AI_RESPONSE_FINISH_REASONS, (turn.stop_reason,))
    for name, key in _LIST_ATTRIBUTES:
        values = getattr(turn, name)
        if values:
            _add(span, key, values)
    if turn.error_type is not None or turn.status_code >= 400:
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = turn.error_message or ""
    else:
        span.status.code = Status.STATUS_CODE_OK
    if turn.budget_state is not None:
        # A span event as well as the attribute: alerting pipelines key on events.
        event = span.events.add()
        event.name = BUDGET_EVENT_PREFIX + turn.budget_state
        event.time_unix_nano = turn.start_ns
    if turn.guardrail in ("flagged", "blocked"):
        event = span.events.add()
        event.name = GUARDRAIL_EVENT_PREFIX + turn.guardrail
        event.time_unix_nano = turn.start_ns


def turn_to_span(turn: Turn) -> Span:
    span = Span()
    fill_span(span, turn)
    return span


def turns_to_request(
    turns: Iterable[Turn], *, service_name: str = "switchyard-proxy", version: str = ""
) -> ExportTraceServiceRequest:
    resource = Resource(attributes=[KeyValue(key=SERVICE_NAME, value=AnyValue(string_value=service_name))])
    scope_spans = ScopeSpans(scope=InstrumentationScope(name=SCOPE_NAME, version=version))
    for turn in turns:
        fill_span(scope_spans.spans.add(), turn)
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource, scope_spans=[scope_spans])])


class SpanDecodeError(ValueError):
    """A span that cannot become a Turn; the message says why (it goes into partial_success)."""


# How each known attribute decodes: key -> (Turn field, the AnyValue kind it must carry).
# A lookup table, so decoding a span is one pass over its attributes (ingest's hot loop).
_INT_FIELDS = frozenset({
    "status_code", "estimated_input_tokens", "tool_count", "output_tokens", "cache_creation_tokens",
    "cache_read_tokens", "input_tokens", "cache_creation_1h_tokens",
})
_FLOAT_FIELDS = frozenset({"propensity", "ttfb_ms"})
_BOOL_FIELDS = frozenset({"thinking", "stream", "repo_verified"})
_DECODE: dict[str, tuple[str, str]] = {
    **{key: (name, "int_value" if name in _INT_FIELDS else "double_value" if name in _FLOAT_FIELDS
             else "bool_value" if name in _BOOL_FIELDS else "string_value")
       for name, key in _SCALAR_ATTRIBUTES},
    **{key: (name, "array_value") for name, key in _LIST_ATTRIBUTES},
}
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens",
                 "cache_creation_1h_tokens")


def _decode_value(key: str, name: str, kind: str, value: AnyValue) -> object:
    if kind != "array_value":
        fast = getattr(value, kind)
        if fast:  # a oneof member is non-default only when it is the one set: no type check needed
            return fast
    actual = value.WhichOneof("value")
    if kind == "array_value":
        if actual != "array_value" or any(v.WhichOneof("value") != "string_value" for v in value.array_value.values):
            raise SpanDecodeError(f"attribute {key} must be a list of strings")
        return tuple(v.string_value for v in value.array_value.values)
    if actual == kind:
        return getattr(value, kind)
    if kind == "double_value" and actual == "int_value":
        return float(value.int_value)
    if actual is None:
        return None
    expected = {"int_value": "an integer", "double_value": "a number", "bool_value": "a boolean",
                "string_value": "a string"}[kind]
    raise SpanDecodeError(f"attribute {key} (for {name}) must be {expected}, got {actual.removesuffix('_value')}")


def span_to_turn(span: Span) -> Turn:
    """Decode one span. Raises :class:`SpanDecodeError` for ids of the wrong length or attributes of
    the wrong type. Spans from other instrumentations map as far as gen_ai names allow: when only
    ``gen_ai.usage.input_tokens`` is present it is split as total minus the cache parts."""
    if len(span.trace_id) != 16 or not any(span.trace_id):
        raise SpanDecodeError("trace_id must be 16 bytes and not all zero")
    if len(span.span_id) != 8 or not any(span.span_id):
        raise SpanDecodeError("span_id must be 8 bytes and not all zero")
    values: dict[str, object] = {}
    total_input: int | None = None
    for kv in span.attributes:
        key = kv.key
        spec = _DECODE.get(key)
        if spec is not None:
            decoded = _decode_value(key, spec[0], spec[1], kv.value)
            if decoded is not None:
                values[spec[0]] = decoded
        elif key == GEN_AI_USAGE_INPUT_TOKENS:
            total = _decode_value(key, "input_tokens", "int_value", kv.value)
            total_input = total if isinstance(total, int) else None
        elif key == GEN_AI_RESPONSE_FINISH_REASONS:
            reasons = kv.value.array_value.values
            if reasons and reasons[0].WhichOneof("value") == "string_value":
                values["stop_reason"] = reasons[0].string_value
    if total_input is not None and total_input < 0:
        raise SpanDecodeError(f"{GEN_AI_USAGE_INPUT_TOKENS} must not be negative")
    if "input_tokens" not in values:
        cached = int(values.get("cache_creation_tokens", 0)) + int(values.get("cache_read_tokens", 0))  # type: ignore[call-overload]
        if total_input is not None and total_input < cached:  # never clamped: the sender's numbers disagree
            raise SpanDecodeError(
                f"{GEN_AI_USAGE_INPUT_TOKENS} ({total_input}) is less than its cache parts ({cached})")
        values["input_tokens"] = 0 if total_input is None else total_input - cached
    for name in _TOKEN_FIELDS:
        if int(values.get(name, 0)) < 0:  # type: ignore[call-overload]
            raise SpanDecodeError(f"{name} must not be negative")
    if span.end_time_unix_nano < span.start_time_unix_nano:
        raise SpanDecodeError("end time is before start time")
    return Turn(
        trace_id=bytes(span.trace_id),
        span_id=bytes(span.span_id),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        **values,  # type: ignore[arg-type]
    )


def turns_in_request(request: ExportTraceServiceRequest) -> Sequence[Span]:
    """Every span in an export request, flattened across resources and scopes."""
    return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
