"""A provider's error, in Anthropic's error shape, saying no more than it should.

Provider error texts can carry account ids, ARNs and project ids, so the rule is: the gateway's log
gets the whole text, the client gets a message that keeps the error's *type* — except for the 400s
and 413s Claude Code itself reads (``prompt is too long: …``, Bedrock's ``Input is too long``, the
"extraneous key"/"unexpected beta" texts its degrade-and-retry logic matches), which reach it word for
word, with any account id, ARN or project id in them masked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

# Anthropic's error type for each HTTP status a provider answers with.
_TYPE_OF_STATUS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                   404: "not_found_error", 408: "api_error", 413: "request_too_large", 422: "invalid_request_error",
                   424: "api_error", 429: "rate_limit_error", 500: "api_error", 502: "api_error",
                   503: "overloaded_error", 504: "api_error", 529: "overloaded_error"}
# Bedrock's exception names (the x-amzn-ErrorType header, and :exception-type of a frame mid-stream,
# which starts lower-case) and what Claude Code should read them as.
_TYPE_OF_EXCEPTION = {
    "validationexception": "invalid_request_error",
    "accessdeniedexception": "permission_error",
    "unrecognizedclientexception": "authentication_error",
    "invalidsignatureexception": "authentication_error",
    "expiredtokenexception": "authentication_error",
    "resourcenotfoundexception": "not_found_error",
    "throttlingexception": "rate_limit_error",
    "servicequotaexceededexception": "rate_limit_error",
    "modelnotreadyexception": "overloaded_error",
    "serviceunavailableexception": "overloaded_error",
    "internalserverexception": "api_error",
    "modelstreamerrorexception": "api_error",
    "modeltimeoutexception": "api_error",
    "modelerrorexception": "api_error",
}
# The status a Bedrock exception frame stands for, when it arrives before the first byte went to the
# client and the chain can still fall back on it.
STATUS_OF_EXCEPTION = {"throttlingexception": 429, "servicequotaexceededexception": 429,
                       "modelnotreadyexception": 429, "serviceunavailableexception": 503,
                       "internalserverexception": 500, "modelstreamerrorexception": 500,
                       "modeltimeoutexception": 504, "validationexception": 400}
_RELAYED_STATUSES = frozenset({400, 413, 422})
_ARN = re.compile(r"arn:aws[a-z-]*:[^\s\"',;)]+")
_ACCOUNT = re.compile(r"(?<!\d)\d{12}(?!\d)")
_GCP_PROJECT = re.compile(r"projects/[^/\s\"',;)]+")
_LABEL = {"bedrock": "Amazon Bedrock", "bedrock-mantle": "Amazon Bedrock", "vertex": "Google Vertex AI"}


@dataclass(frozen=True, slots=True)
class ClientError:
    error_type: str
    message: str

    def body(self, request_id: str | None) -> bytes:
        payload: dict[str, Any] = {"type": "error", "error": {"type": self.error_type, "message": self.message}}
        if request_id:
            payload["request_id"] = request_id
        return orjson.dumps(payload)


def mask(text: str) -> str:
    """``text`` with ARNs, AWS account ids and Google project paths replaced."""
    return _GCP_PROJECT.sub("projects/<project>", _ACCOUNT.sub("<account>", _ARN.sub("<arn>", text)))


def exception_name(header: str | None) -> str:
    """``ValidationException:http://internal.amazon.com/coral/...`` → ``validationexception``."""
    return (header or "").split(":", 1)[0].strip().lower()


def _texts(body: bytes) -> tuple[str | None, str | None]:
    """(error type, message) from whichever shape the body has: Anthropic's envelope, Bedrock's
    ``{"message": ...}``, Google's ``{"error": {"message", "status"}}``."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    if isinstance(document, list) and len(document) == 1:  # Vertex wraps a streamRawPredict error in an array
        document = document[0]
    if not isinstance(document, dict):
        return None, None
    error = document.get("error")
    if isinstance(error, dict):
        kind = error.get("type") if document.get("type") == "error" else None
        message = error.get("message")
        return (kind if isinstance(kind, str) else None), (message if isinstance(message, str) else None)
    message = document.get("message", document.get("Message"))
    return None, message if isinstance(message, str) else None


def client_error(provider: str, status: int, body: bytes, exception: str | None = None) -> ClientError:
    """What Claude Code is told about a provider's ``status`` answer with ``body``."""
    own_type, message = _texts(body)
    name = exception_name(exception)
    error_type = own_type or _TYPE_OF_EXCEPTION.get(name) or _TYPE_OF_STATUS.get(status, "api_error")
    if status in _RELAYED_STATUSES and message:
        return ClientError(error_type, mask(message))
    what = f" ({exception.split(':', 1)[0]})" if exception else ""
    return ClientError(error_type, f"{_LABEL.get(provider, provider)} answered {status}{what}; "
                       "the gateway's log has the provider's message")


def stream_exception(exception_type: str, payload: bytes) -> tuple[int, ClientError]:
    """A Bedrock exception frame: the status it stands for and what Claude Code is told."""
    name = exception_type.lower()
    _, message = _texts(payload)
    error_type = _TYPE_OF_EXCEPTION.get(name, "api_error")
    status = STATUS_OF_EXCEPTION.get(name, 500)
    if status in _RELAYED_STATUSES and message:
        return status, ClientError(error_type, mask(message))
    return status, ClientError(error_type, f"Amazon Bedrock ended the stream with {exception_type}")
