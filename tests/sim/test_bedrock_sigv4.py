"""The fake Bedrock checks SigV4 like AWS: a request botocore signed passes, one changed byte anywhere
the signature covers fails with AWS's 403 and words, and Bedrock API keys work as bearer tokens."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx
import orjson
import pytest

from sim.aws_errors import SIGNATURE_MISMATCH_MESSAGE
from sim.bedrock import FakeBedrock
from sim.bedrock_client import HAIKU_PROFILE, invoke_body, model_path, post_signed, signed_headers
from sim.fake_credentials import (
    TEST_AWS_KEY,
    TEST_AWS_SESSION_TOKEN,
    TEST_AWS_TEMP_KEY,
    TEST_BEDROCK_API_KEY,
)
from sim.provider_requests import fingerprint
from sim.sigv4_check import AwsKey
from tests.sim.wire import simple_body

BODY = orjson.dumps(invoke_body(simple_body("hello"), None))
PATH = model_path(HAIKU_PROFILE, "invoke")


def send(bedrock: FakeBedrock, headers: dict[str, str], body: bytes = BODY, path: str = PATH) -> httpx.Response:
    return httpx.post(bedrock.base_url + path, content=body, headers=headers, timeout=10)


def signed(bedrock: FakeBedrock, body: bytes = BODY, path: str = PATH, **signing: object) -> dict[str, str]:
    return signed_headers("POST", bedrock.base_url + path, body, **signing)  # type: ignore[arg-type]


def assert_aws_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"].split(":", 1)[0] == code
    assert response.headers["x-amzn-RequestId"]
    assert response.json()["message"].startswith(message)


@pytest.mark.parametrize("key", [TEST_AWS_KEY, TEST_AWS_TEMP_KEY], ids=["long-term", "temporary"])
def test_a_request_botocore_signed_is_accepted(bedrock: FakeBedrock, key: AwsKey) -> None:
    response = send(bedrock, signed(bedrock, key=key))
    assert response.status_code == 200, response.text
    assert response.json()["content"][0]["type"] == "text"


def test_only_the_signed_headers_count(bedrock: FakeBedrock) -> None:
    headers = signed(bedrock, headers={"content-type": "application/json", "x-claude-code-session-id": "s-1"})
    assert "x-claude-code-session-id" in headers["Authorization"]
    assert send(bedrock, {**headers, "x-unsigned-extra": "anything"}).status_code == 200
    assert_aws_error(send(bedrock, {**headers, "x-claude-code-session-id": "s-2"}), 403,
                     "InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE)


def _one_byte_changed(body: bytes) -> bytes:
    return body.replace(b"hello", b"hellp")


def _one_second_off(amz_date: str) -> str:
    """The same day and minute (so only the signature can notice), one second off."""
    seconds = int(amz_date[13:15])
    return f"{amz_date[:13]}{seconds - 1 if seconds == 59 else seconds + 1:02d}Z"


def _last_hex_digit_changed(authorization: str) -> str:
    return authorization[:-1] + ("1" if authorization.endswith("0") else "0")


TAMPERING: dict[str, Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]] = {
    "body": lambda h, b: (h, _one_byte_changed(b)),
    "signed header": lambda h, b: ({**h, "content-type": "application/json; charset=utf-8"}, b),
    "date": lambda h, b: ({**h, "X-Amz-Date": _one_second_off(h["X-Amz-Date"])}, b),
    "signature": lambda h, b: ({**h, "Authorization": _last_hex_digit_changed(h["Authorization"])}, b),
}


@pytest.mark.parametrize("what", list(TAMPERING))
def test_one_changed_byte_is_refused_with_awss_words(bedrock: FakeBedrock, what: str) -> None:
    headers, body = TAMPERING[what](signed(bedrock), BODY)
    response = send(bedrock, headers, body)
    assert_aws_error(response, 403, "InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE)
    # Like AWS, it says what it expected (never the session token).
    assert "The Canonical String for this request should have been" in response.json()["message"]


def test_a_body_hash_header_that_lies_is_refused(bedrock: FakeBedrock) -> None:
    import hashlib

    headers = signed(bedrock, headers={"content-type": "application/json",
                                       "x-amz-content-sha256": hashlib.sha256(BODY).hexdigest()})
    assert send(bedrock, headers).status_code == 200
    assert_aws_error(send(bedrock, headers, _one_byte_changed(BODY)), 403, "InvalidSignatureException",
                     SIGNATURE_MISMATCH_MESSAGE)


@pytest.mark.parametrize(
    ("shift_minutes", "message"),
    [(-6, "Signature expired: "), (6, "Signature not yet current: ")],
)
def test_a_date_more_than_five_minutes_off_is_refused(bedrock: FakeBedrock, shift_minutes: int, message: str) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=shift_minutes)
    response = send(bedrock, signed(bedrock, when=when))
    assert_aws_error(response, 403, "InvalidSignatureException", message)
    assert response.json()["message"].endswith(" 5 min.)")


def test_a_date_within_the_skew_is_accepted(bedrock: FakeBedrock) -> None:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    assert send(bedrock, signed(bedrock, when=when)).status_code == 200


def test_no_authorization_at_all(bedrock: FakeBedrock) -> None:
    assert_aws_error(send(bedrock, {"content-type": "application/json"}), 403,
                     "MissingAuthenticationTokenException", "Missing Authentication Token")


@pytest.mark.parametrize(
    ("signing", "code", "message"),
    [
        ({"key": AwsKey("AKIDUNKNOWN000000000", "x")}, "UnrecognizedClientException",
         "The security token included in the request is invalid."),
        ({"region": "eu-west-1"}, "InvalidSignatureException", "Credential should be scoped to a valid region."),
        ({"service": "bedrock-mantle"}, "InvalidSignatureException",
         "Credential should be scoped to correct service: 'bedrock'."),
        ({"key": AwsKey(TEST_AWS_TEMP_KEY.access_key_id, TEST_AWS_TEMP_KEY.secret_access_key)},
         "UnrecognizedClientException", "The security token included in the request is invalid."),
    ],
    ids=["unknown-key", "wrong-region", "wrong-service", "temporary-key-without-token"],
)
def test_scope_and_key_problems(bedrock: FakeBedrock, signing: dict[str, object], code: str, message: str) -> None:
    assert_aws_error(send(bedrock, signed(bedrock, **signing)), 403, code, message)


def test_the_region_can_come_from_the_host(bedrock: FakeBedrock) -> None:
    url = "http://bedrock-runtime.eu-west-1.amazonaws.com" + PATH
    headers = signed_headers("POST", url, BODY, region="eu-west-1")
    assert send(bedrock, {**headers, "Host": "bedrock-runtime.eu-west-1.amazonaws.com"}).status_code == 200


def test_the_model_id_may_arrive_encoded_or_not(bedrock: FakeBedrock) -> None:
    raw_path = f"/model/{HAIKU_PROFILE}/invoke"  # the CLI's aws-sdk-js leaves ':' as is; botocore encodes it
    assert send(bedrock, signed(bedrock, path=raw_path), path=raw_path).status_code == 200
    assert send(bedrock, signed(bedrock)).status_code == 200
    assert [r.path for r in bedrock.requests] == [raw_path, PATH]
    assert "%3A" in PATH


def test_a_bedrock_api_key_is_a_bearer_token(bedrock: FakeBedrock) -> None:
    ok = send(bedrock, {"content-type": "application/json", "authorization": f"Bearer {TEST_BEDROCK_API_KEY}"})
    assert ok.status_code == 200
    refused = send(bedrock, {"content-type": "application/json", "authorization": "Bearer ABSKnot-the-key"})
    assert refused.status_code == 403
    assert refused.json() == {"Message": "Authentication failed: Please make sure your API Key is valid."}


def test_recorded_requests_hold_no_credentials(bedrock: FakeBedrock) -> None:
    send(bedrock, {"content-type": "application/json", "authorization": f"Bearer {TEST_BEDROCK_API_KEY}"})
    send(bedrock, signed(bedrock, key=TEST_AWS_TEMP_KEY))
    recorded = " ".join(value for request in bedrock.requests for _, value in request.headers)
    assert TEST_BEDROCK_API_KEY not in recorded and TEST_AWS_SESSION_TOKEN not in recorded
    assert fingerprint(TEST_BEDROCK_API_KEY) in recorded and fingerprint(TEST_AWS_SESSION_TOKEN) in recorded
    assert TEST_AWS_TEMP_KEY.secret_access_key not in recorded


def test_authentication_comes_before_injected_faults(bedrock: FakeBedrock) -> None:
    bedrock.inject("429")
    assert send(bedrock, {"content-type": "application/json"}).status_code == 403
    assert len(bedrock.faults) == 1  # the refused request did not use up the fault
    assert post_signed(bedrock.base_url, PATH, BODY).status_code == 429
