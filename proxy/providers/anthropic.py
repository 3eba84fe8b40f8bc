"""The Anthropic kind: any Anthropic-compatible base URL. Bytes relayed unchanged both ways; the
client's credential replaced by the target's provider key (docs/fidelity.md)."""

from __future__ import annotations

import aiohttp
from yarl import URL

from core.policy.schema import Target

from ..headers import client_response_headers, credential_for, upstream_request_headers
from .seam import Answer, Call, Outgoing, retry_after


class AnthropicUpstream:
    async def outgoing(self, target: Target, call: Call, key: str | None) -> Outgoing:
        credential = credential_for(key, target.auth) if key is not None else None
        url = URL(target.base_url.rstrip("/") + call.path_and_query, encoded=True)
        return Outgoing(url, upstream_request_headers(call.headers, credential), call.body)

    async def answer(self, response: aiohttp.ClientResponse) -> Answer:
        return Answer(response.status, client_response_headers(response.raw_headers),
                      response.content.iter_any(), response.headers.get("request-id"), retry_after(response),
                      response.headers.get("content-type", ""))
