"""A small Bedrock client for tests: sign a request with botocore exactly as an AWS SDK would, send it
with httpx, and decode the event stream with botocore's EventStreamBuffer (so the fake's frames are
checked by code the fake did not write).

    headers = signed_headers("POST", url, body)                  # the shared test credentials
    response = httpx.post(url, content=body, headers=headers)
    for frame in decode_frames(response.content): ...
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer

from sim.bedrock_config import BEDROCK_VERSION
from sim.fake_credentials import TEST_AWS_KEY, TEST_AWS_REGION
from sim.provider_capabilities import header_betas
from sim.sigv4_check import AwsKey

HAIKU_PROFILE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
HAIKU_FOUNDATION_MODEL = "anthropic.claude-haiku-4-5-20251001-v1:0"


def model_path(model_id: str, action: str = "invoke-with-response-stream") -> str:
    """``/model/<id>/<action>`` with the id percent-encoded as the AWS SDKs send it (``:`` → ``%3A``)."""
    return f"/model/{quote(model_id, safe='')}/{action}"


def signed_headers(
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    key: AwsKey = TEST_AWS_KEY,
    region: str = TEST_AWS_REGION,
    service: str = "bedrock",
    when: dt.datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus X-Amz-Date, the session token if any, and the SigV4 Authorization, computed by
    botocore's SigV4Auth (``when`` lets a test sign in the past or future)."""
    headers = dict(headers or {"content-type": "application/json"})
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    stamp = (when or dt.datetime.now(dt.UTC)).strftime(SIGV4_TIMESTAMP)
    request.context["timestamp"] = stamp
    request.headers["X-Amz-Date"] = stamp
    if key.session_token:
        request.headers["X-Amz-Security-Token"] = key.session_token
    signer = SigV4Auth(Credentials(key.access_key_id, key.secret_access_key, key.session_token), service, region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={signer.scope(request)}, SignedHeaders={signed}, Signature={signature}"
    )
    return dict(request.headers.items())


def invoke_body(messages_body: Mapping[str, Any], betas: str | None = None) -> dict[str, Any]:
    """A Messages API body made into a Bedrock InvokeModel one (no model or stream; the version; the betas
    of an ``anthropic-beta`` header in ``anthropic_beta``). Capabilities are not filtered: that is the gateway's job."""
    body = {key: value for key, value in messages_body.items() if key not in ("model", "stream")}
    body["anthropic_version"] = BEDROCK_VERSION
    if listed := header_betas(betas):
        body["anthropic_beta"] = listed
    return body


def post_signed(
    base_url: str,
    path: str,
    body: Mapping[str, Any] | bytes,
    *,
    extra_headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    **signing: Any,
) -> httpx.Response:
    """POST ``body`` (JSON-encoded unless bytes), signed; the whole answer read."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    url = base_url + path
    headers = signed_headers("POST", url, raw, {"content-type": "application/json", **(extra_headers or {})}, **signing)
    return httpx.post(url, content=raw, headers=headers, timeout=timeout_s)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded event-stream message."""

    headers: dict[str, str]
    payload: bytes

    @property
    def is_exception(self) -> bool:
        return self.headers.get(":message-type") == "exception"

    @property
    def event(self) -> dict[str, Any]:
        """The Anthropic event a ``chunk`` carries (base64 JSON in ``bytes``)."""
        return dict(orjson.loads(base64.b64decode(orjson.loads(self.payload)["bytes"])))


def iter_frames(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """Frames as soon as their bytes are complete; raises botocore's ChecksumMismatch on a bad CRC."""
    buffer = EventStreamBuffer()
    for chunk in chunks:
        buffer.add_data(chunk)
        for message in buffer:
            yield Frame({name: str(value) for name, value in message.headers.items()}, message.payload)


def decode_frames(data: bytes) -> list[Frame]:
    return list(iter_frames([data]))


def anthropic_events(frames: Iterable[Frame]) -> list[dict[str, Any]]:
    return [frame.event for frame in frames if not frame.is_exception]
