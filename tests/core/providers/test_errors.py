"""Provider errors as Claude Code sees them: the type kept, the texts it matches relayed, ids masked."""

from __future__ import annotations

import orjson

from core.providers.errors import client_error, mask, stream_exception


def test_bedrocks_input_too_long_reaches_the_client_word_for_word() -> None:
    error = client_error("bedrock", 400, b'{"message":"Input is too long for requested model."}',
                         "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/")
    assert error.error_type == "invalid_request_error"
    assert error.message == "Input is too long for requested model."
    assert orjson.loads(error.body("r1")) == {"type": "error", "request_id": "r1", "error": {
        "type": "invalid_request_error", "message": "Input is too long for requested model."}}


def test_an_anthropic_envelope_keeps_its_type_and_text() -> None:
    body = (b'{"type":"error","error":{"type":"invalid_request_error",'
            b'"message":"prompt is too long: 210000 tokens > 200000 maximum"}}')
    error = client_error("vertex", 400, body)
    assert (error.error_type, error.message) == ("invalid_request_error",
                                                 "prompt is too long: 210000 tokens > 200000 maximum")


def test_account_ids_arns_and_projects_never_reach_the_client() -> None:
    secret = (b'{"message":"User: arn:aws:sts::123456789012:assumed-role/gw/i-0abc is not authorized to perform: '
              b'bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1:123456789012:inference-profile/x"}')
    denied = client_error("bedrock", 403, secret, "AccessDeniedException")
    assert denied.error_type == "permission_error"
    assert b"123456789012" not in denied.body(None) and b"arn:" not in denied.body(None)
    assert "AccessDeniedException" in denied.message
    # a relayed 400 is masked too
    relayed = client_error("bedrock", 400, secret, "ValidationException")
    assert "123456789012" not in relayed.message and "arn:aws" not in relayed.message
    assert "not authorized to perform" in relayed.message
    assert mask("projects/acme-prod-7/locations/x") == "projects/<project>/locations/x"


def test_throttling_and_unavailability_read_as_anthropics_retryable_types() -> None:
    assert client_error("bedrock", 429, b'{"message":"Too many requests"}', "ThrottlingException").error_type \
        == "rate_limit_error"
    assert client_error("bedrock", 503, b"{}", "ServiceUnavailableException").error_type == "overloaded_error"
    google = b'{"error":{"code":429,"message":"Quota exceeded for project 1234","status":"RESOURCE_EXHAUSTED"}}'
    quota = client_error("vertex", 429, google)
    assert quota.error_type == "rate_limit_error" and "1234" not in quota.message
    assert client_error("vertex", 502, b"<html>").error_type == "api_error"


def test_an_exception_frame_stands_for_a_status_the_chain_can_fall_back_on() -> None:
    status, error = stream_exception("throttlingException", b'{"message":"slow down"}')
    assert status == 429 and error.error_type == "rate_limit_error"
    status, error = stream_exception("modelStreamErrorException", b'{"message":"arn:aws:x"}')
    assert status == 500 and "arn" not in error.message
