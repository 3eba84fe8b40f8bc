"""Google Vertex AI (rawPredict / streamRawPredict): the request translated, a Google access token as
the bearer (Application Default Credentials, or a token held as a named provider key with
``auth: bearer``), and Anthropic's SSE back as it came."""

from __future__ import annotations

import aiohttp
from yarl import URL

from core.policy.schema import Target
from core.providers.capabilities import Capabilities
from core.providers.translate import vertex_request

from ..errors import UpstreamFailure
from .bedrock import error_answer, not_supported
from .google import GoogleTokens, TokenUnavailable
from .seam import Answer, Call, Outgoing, answer_headers

_COUNT_TOKENS = "/v1/messages/count_tokens"
_MESSAGES = "/v1/messages"


class VertexUpstream:
    def __init__(self, capabilities: Capabilities, tokens: GoogleTokens) -> None:
        self._capabilities = capabilities
        self._tokens = tokens

    async def outgoing(self, target: Target, call: Call, key: str | None) -> Outgoing:
        if call.path not in (_MESSAGES, _COUNT_TOKENS) or call.parsed is None or call.model is None:
            raise not_supported("Google Vertex AI", f"{call.method} {call.path}")
        assert target.project is not None and target.region is not None  # the policy validator requires them
        request = vertex_request(call.parsed, call.header_map, call.model, target.project, target.region,
                                 self._capabilities, count_tokens=call.path == _COUNT_TOKENS)
        if target.auth == "bearer":
            if key is None:
                raise UpstreamFailure("credentials", f"upstream {target.name} has no access token", status=502)
            token = key
        else:
            try:
                token = await self._tokens.token()
            except TokenUnavailable as exc:
                raise UpstreamFailure("credentials", f"upstream {target.name}: {exc}", status=502) from None
        url = URL(target.base_url.rstrip("/") + request.path, encoded=True)
        return Outgoing(url, [*request.headers, ("authorization", f"Bearer {token}")], request.body, request.dropped)

    async def answer(self, response: aiohttp.ClientResponse) -> Answer:
        if response.status >= 400:
            return await error_answer("vertex", response)
        content_type = response.headers.get("content-type", "")
        request_id = response.headers.get("request-id") or response.headers.get("x-request-id")
        return Answer(response.status, answer_headers(content_type, request_id), response.content.iter_any(),
                      request_id, None, content_type)
