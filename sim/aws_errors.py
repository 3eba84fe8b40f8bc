"""AWS's error answers, as bedrock-runtime sends them: a small JSON body ``{"message": …}``, the error
code in ``x-amzn-ErrorType`` (with the Coral namespace suffix the real service appends: a client must
split at ``:`` as botocore does) and a request id in ``x-amzn-RequestId``.

Texts below were checked against what users of the real service quote (see docs/fakes.md for the
sources); the few marked "approximate" have no public verbatim quote.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiohttp import web

BEDROCK_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
CORAL_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.coral.service/"

THROTTLING_MESSAGE = "Too many requests, please wait before trying again."
UNAVAILABLE_MESSAGE = "Bedrock is unable to process your request."
INTERNAL_MESSAGE = "The server encountered an internal error while processing the request."  # approximate
TIMEOUT_MESSAGE = "Model has timed out in processing the request. Try your request again."  # approximate
STREAM_ERROR_MESSAGE = "An error occurred while streaming the response. Retry your request."  # approximate
INPUT_TOO_LONG_MESSAGE = "Input is too long for requested model."
INVALID_MODEL_MESSAGE = "The provided model identifier is invalid."
NO_TOKEN_COUNTING_MESSAGE = "The provided model doesn't support counting tokens."
INVALID_BETA_MESSAGE = "invalid beta flag"
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
MISSING_TOKEN_MESSAGE = "Missing Authentication Token"
INVALID_API_KEY_MESSAGE = "Authentication failed: Please make sure your API Key is valid."


@dataclass(frozen=True, slots=True)
class AwsError:
    status: int
    code: str
    message: str
    # Auth errors come from the shared AWS front end, not from Bedrock itself.
    namespace: str = BEDROCK_NAMESPACE
    # The bearer-key failure spells its field "Message" (as quoted by users of Bedrock API keys).
    message_field: str = "message"


MALFORMED_MESSAGE = "Malformed input request, please reformat your input and try again."

# What a bare status in a fault spec stands for.
BY_STATUS: dict[int, AwsError] = {
    400: AwsError(400, "ValidationException", MALFORMED_MESSAGE),
    403: AwsError(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
    404: AwsError(404, "ResourceNotFoundException", "Model not found."),  # approximate
    408: AwsError(408, "ModelTimeoutException", TIMEOUT_MESSAGE),
    424: AwsError(424, "ModelErrorException", "The model returned an error. Try your request again."),  # approximate
    429: AwsError(429, "ThrottlingException", THROTTLING_MESSAGE),
    500: AwsError(500, "InternalServerException", INTERNAL_MESSAGE),
    503: AwsError(503, "ServiceUnavailableException", UNAVAILABLE_MESSAGE),
}

# Mid-stream exception frames: the ``:exception-type`` value (lower camel case on the wire) → message.
STREAM_EXCEPTIONS: dict[str, str] = {
    "modelStreamErrorException": STREAM_ERROR_MESSAGE,
    "throttlingException": THROTTLING_MESSAGE,
    "serviceUnavailableException": UNAVAILABLE_MESSAGE,
    "internalServerException": INTERNAL_MESSAGE,
    "modelTimeoutException": TIMEOUT_MESSAGE,
    "validationException": INPUT_TOO_LONG_MESSAGE,
}


def validation(message: str) -> AwsError:
    return AwsError(400, "ValidationException", message)


def for_status(status: int) -> AwsError:
    if status in BY_STATUS:
        return BY_STATUS[status]
    if status >= 500:
        return AwsError(status, "InternalServerException", INTERNAL_MESSAGE)
    return AwsError(status, "ValidationException", MALFORMED_MESSAGE)


def auth_error(code: str, message: str, status: int = 403) -> AwsError:
    return AwsError(status, code, message, CORAL_NAMESPACE)


def aws_error_response(error: AwsError, request_id: str) -> web.Response:
    return web.Response(
        status=error.status,
        body=orjson.dumps({error.message_field: error.message}),
        headers={
            "content-type": "application/json",
            "x-amzn-RequestId": request_id,
            "x-amzn-ErrorType": f"{error.code}:{error.namespace}",
        },
    )
