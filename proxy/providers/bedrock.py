"""Amazon Bedrock's runtime (InvokeModel): the request translated (core/providers/translate.py), signed
with SigV4 (or a Bedrock API key as a bearer), the AWS event stream decoded back into Anthropic SSE
(core/providers/event_stream.py) with the proxy's own pings in silent gaps.

An exception frame that arrives before any event is an answer the chain can still fall back on (a
``throttlingException`` right after the 200 is a 429 in all but name); after the first event it
becomes an Anthropic ``error`` event, as a stream that breaks mid-way does with Anthropic."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import orjson
from yarl import URL

from core.policy.schema import Target
from core.providers.capabilities import Capabilities
from core.providers.errors import client_error
from core.providers.event_stream import EventStreamToSSE
from core.providers.kinds import SIGNING_NAME
from core.providers.translate import NotSupported, ProviderRequest, bedrock_request, mantle_request

from ..errors import ProxyError, UpstreamFailure
from .aws import AwsCredentials, CredentialsUnavailable, sigv4_headers
from .pings import PING, chunks_or_silence
from .seam import Answer, Call, Outgoing, answer_headers, json_headers, one_chunk, retry_after

log = logging.getLogger("switchyard.proxy.bedrock")
_COUNT_TOKENS = "/v1/messages/count_tokens"
_MESSAGES = "/v1/messages"


def not_supported(provider: str, what: str) -> ProxyError:
    return ProxyError("not_supported", f"{what} is not available through {provider} targets", status=501,
                      headers=[(b"x-should-retry", b"false")])


async def signed(target: Target, request: ProviderRequest, key: str | None, credentials: AwsCredentials) -> Outgoing:
    url = URL(target.base_url.rstrip("/") + request.path, encoded=True)
    headers = list(request.headers)
    if target.auth == "bearer":
        if key is None:
            raise UpstreamFailure("credentials", f"upstream {target.name} has no Bedrock API key", status=502)
        headers.append(("authorization", f"Bearer {key}"))
        return Outgoing(url, headers, request.body, request.dropped)
    try:
        frozen = await credentials.current()
    except CredentialsUnavailable as exc:
        raise UpstreamFailure("credentials", f"upstream {target.name}: {exc}", status=502) from None
    assert target.region is not None  # the policy validator requires it
    headers = sigv4_headers(frozen, SIGNING_NAME[target.provider], target.region, url, headers, request.body)
    return Outgoing(url, headers, request.body, request.dropped)


def _request_id(response: aiohttp.ClientResponse) -> str | None:
    return response.headers.get("x-amzn-requestid") or response.headers.get("request-id")


async def error_answer(provider: str, response: aiohttp.ClientResponse) -> Answer:
    """A provider's 4xx/5xx in Anthropic's error shape; its own text goes to the log only."""
    raw = await response.read()
    exception = response.headers.get("x-amzn-errortype")
    request_id = _request_id(response)
    log.warning("%s answered %s %s (request %s): %s", provider, response.status, exception or "",
                request_id, raw[:2048].decode("utf-8", "replace"))
    body = client_error(provider, response.status, raw, exception).body(request_id)
    return Answer(response.status, json_headers(body, request_id), one_chunk(body), request_id,
                  retry_after(response), "application/json")


class BedrockUpstream:
    def __init__(self, capabilities: Capabilities, credentials: AwsCredentials, ping_every_s: float) -> None:
        self._capabilities = capabilities
        self._credentials = credentials
        self._ping_every_s = ping_every_s

    async def outgoing(self, target: Target, call: Call, key: str | None) -> Outgoing:
        if call.path not in (_MESSAGES, _COUNT_TOKENS) or call.parsed is None or call.model is None:
            raise not_supported("Amazon Bedrock", f"{call.method} {call.path}")
        request = bedrock_request(call.parsed, call.header_map, call.model, self._capabilities,
                                  count_tokens=call.path == _COUNT_TOKENS)
        return await signed(target, request, key, self._credentials)

    async def answer(self, response: aiohttp.ClientResponse) -> Answer:
        if response.status >= 400:
            return await error_answer("bedrock", response)
        request_id = _request_id(response)
        content_type = response.headers.get("content-type", "")
        if "count-tokens" in response.url.path:
            return _count_tokens_answer(await response.read(), request_id)
        if not content_type.startswith("application/vnd.amazon.eventstream"):
            # /invoke: the message JSON is Anthropic's own shape
            return Answer(response.status, answer_headers("application/json", request_id),
                          response.content.iter_any(), request_id, None, "application/json")
        decoder = EventStreamToSSE()
        first = b""
        async for data in response.content.iter_any():  # up to the first event (or a failure)
            first += decoder.feed(data)
            if first:
                break
        if not first:  # the stream ended before its first event
            first = decoder.end() or decoder.fail(502, "Amazon Bedrock's stream ended before its first event")
        if decoder.failure is not None and decoder.events == 0:
            status, error = decoder.failure
            body = error.body(request_id)
            log.warning("bedrock stream failed before its first event (request %s): %s", request_id, error.message)
            return Answer(status, json_headers(body, request_id), one_chunk(body), request_id, None, "application/json")
        headers = answer_headers("text/event-stream; charset=utf-8", request_id, (b"cache-control", b"no-cache"))
        chunks = _rest(first, decoder, response, self._ping_every_s)
        return Answer(response.status, headers, chunks, request_id, None, "text/event-stream")


async def _rest(first: bytes, decoder: EventStreamToSSE, response: aiohttp.ClientResponse,
                ping_every_s: float) -> AsyncIterator[bytes]:
    """The stream after its first event, decoded as it arrives, with a ping in every silence."""
    if first:
        yield first
    if decoder.failure is not None:
        return
    async for data in chunks_or_silence(response.content, ping_every_s):
        if data is None:
            yield PING
            continue
        out = decoder.feed(data)
        if out:
            yield out
        if decoder.failure is not None:
            return
    tail = decoder.end()
    if tail:
        yield tail


def _count_tokens_answer(raw: bytes, request_id: str | None) -> Answer:
    """Bedrock's CountTokens ``{"inputTokens": n}`` as Anthropic's ``{"input_tokens": n}``."""
    try:
        count = orjson.loads(raw).get("inputTokens")
    except (orjson.JSONDecodeError, AttributeError):
        count = None
    if not isinstance(count, int):
        body = client_error("bedrock", 502, b"").body(request_id)
        return Answer(502, json_headers(body, request_id), one_chunk(body), request_id, None, "application/json")
    body = orjson.dumps({"input_tokens": count})
    return Answer(200, json_headers(body, request_id), one_chunk(body), request_id, None, "application/json")


class MantleUpstream:
    """Bedrock Mantle: the Messages API itself on AWS; only the model id, the capability table and
    the signer differ from Anthropic's."""

    def __init__(self, capabilities: Capabilities, credentials: AwsCredentials) -> None:
        self._capabilities = capabilities
        self._credentials = credentials

    async def outgoing(self, target: Target, call: Call, key: str | None) -> Outgoing:
        if call.path != _MESSAGES or call.parsed is None or call.model is None:
            raise not_supported("Bedrock Mantle", f"{call.method} {call.path}")
        try:
            request = mantle_request(call.parsed, call.header_map, call.model, self._capabilities)
        except NotSupported as exc:
            raise not_supported("Bedrock Mantle", str(exc)) from None
        return await signed(target, request, key, self._credentials)

    async def answer(self, response: aiohttp.ClientResponse) -> Answer:
        if response.status >= 400:
            return await error_answer("bedrock-mantle", response)
        request_id = _request_id(response)
        content_type = response.headers.get("content-type", "")
        return Answer(response.status, answer_headers(content_type, request_id), response.content.iter_any(),
                      request_id, None, content_type)
