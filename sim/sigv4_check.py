"""Verifying an AWS Signature Version 4 the way the service does: recompute it with botocore from the
shared secret, over exactly the headers the client listed in SignedHeaders and the body's SHA-256,
and answer a failure with the error AWS's front end gives (403 and its wording).

Checked in AWS's order: an Authorization at all, its form, the access key, the date and its skew,
the credential scope (date, region, service), the session token, then the signature itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from sim.aws_errors import (
    INVALID_TOKEN_MESSAGE,
    MISSING_TOKEN_MESSAGE,
    SIGNATURE_MISMATCH_MESSAGE,
    AwsError,
    auth_error,
)

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
DEFAULT_MAX_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class AwsKey:
    access_key_id: str
    secret_access_key: str
    # Temporary credentials (ASIA…) come with a session token the request must carry.
    session_token: str | None = None


@dataclass(frozen=True, slots=True)
class ArrivedRequest:
    method: str
    raw_path: str  # path and query exactly as on the wire (percent-encoding kept)
    headers: Sequence[tuple[str, str]]  # raw pairs, duplicates kept
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class _ListedHeadersSigV4(SigV4Auth):  # type: ignore[misc]  # botocore ships no type hints
    """botocore's signer, signing exactly the headers it is given (the client's SignedHeaders list)
    instead of choosing them itself."""

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return request.headers


def _incomplete(message: str) -> AwsError:
    return auth_error("IncompleteSignatureException", message)


def _invalid(message: str) -> AwsError:
    return auth_error("InvalidSignatureException", message)


def _parse_authorization(value: str) -> dict[str, str] | AwsError:
    scheme, _, rest = value.partition(" ")
    if scheme != ALGORITHM:
        return _incomplete(f"Authorization header requires the '{ALGORITHM}' algorithm.")
    parts = {}
    for part in rest.split(","):
        key, sep, item = part.strip().partition("=")
        if sep:
            parts[key] = item
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in parts]
    if missing:
        return _incomplete(" ".join(f"Authorization header requires '{name}' parameter." for name in missing))
    return parts


def _skew_problem(
    amz_date: str, signed_at: dt.datetime, now: dt.datetime, max_skew: dt.timedelta
) -> AwsError | None:
    minutes = int(max_skew.total_seconds() // 60)
    stamp = now.strftime(AMZ_DATE_FORMAT)
    if signed_at < now - max_skew:
        earliest = (now - max_skew).strftime(AMZ_DATE_FORMAT)
        return _invalid(f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - {minutes} min.)")
    if signed_at > now + max_skew:
        latest = (now + max_skew).strftime(AMZ_DATE_FORMAT)
        return _invalid(
            f"Signature not yet current: {amz_date} is still later than {latest} ({stamp} + {minutes} min.)"
        )
    return None


def verify_sigv4(
    request: ArrivedRequest,
    keys: Sequence[AwsKey],
    *,
    service: str,
    region: str,
    now: dt.datetime,
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
) -> AwsError | None:
    """None when ``request`` carries a valid signature by one of ``keys``; else the error to answer."""
    authorization = request.header("authorization")
    if authorization is None:
        return auth_error("MissingAuthenticationTokenException", MISSING_TOKEN_MESSAGE)
    parts = _parse_authorization(authorization)
    if isinstance(parts, AwsError):
        return parts
    scope = parts["Credential"].split("/")
    key = next((k for k in keys if k.access_key_id == scope[0]), None)
    if key is None:
        return auth_error("UnrecognizedClientException", INVALID_TOKEN_MESSAGE)
    amz_date = request.header("x-amz-date")
    if amz_date is None:
        return _incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    try:
        signed_at = dt.datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.")
    if problem := _skew_problem(amz_date, signed_at, now, max_skew):
        return problem
    if len(scope) != 5:
        return _incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term."
        )
    _, scope_date, scope_region, scope_service, terminator = scope
    if scope_date != amz_date[:8]:
        return _invalid(f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                        f"HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.")
    if scope_region != region:
        return _invalid("Credential should be scoped to a valid region.")
    if scope_service != service:
        return _invalid(f"Credential should be scoped to correct service: '{service}'.")
    if terminator != "aws4_request":
        return _invalid(f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.")
    if request.header("x-amz-security-token") != key.session_token:
        return auth_error("UnrecognizedClientException", INVALID_TOKEN_MESSAGE)
    signed_names = [name.strip().lower() for name in parts["SignedHeaders"].split(";") if name.strip()]
    if "host" not in signed_names:
        return _invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")

    signer, aws_request = _rebuild(request, key, signed_names, service, region, amz_date)
    canonical = signer.canonical_request(aws_request)
    string_to_sign = signer.string_to_sign(aws_request, canonical)
    expected = signer.signature(string_to_sign, aws_request)
    body_hash = request.header("x-amz-content-sha256")
    body_tampered = body_hash is not None and body_hash != hashlib.sha256(request.body).hexdigest()
    if body_tampered or not hmac.compare_digest(expected, parts["Signature"]):
        return _invalid(_mismatch_message(canonical, string_to_sign))
    return None


def _rebuild(
    request: ArrivedRequest, key: AwsKey, signed_names: list[str], service: str, region: str, amz_date: str
) -> tuple[SigV4Auth, AWSRequest]:
    headers = HTTPHeaders()
    for name, value in request.headers:
        if name.lower() in signed_names:
            headers[name.lower()] = value  # HTTPHeaders keeps repeats; the signer joins them with ","
    # The client's body hash stands in the canonical request when signed; a wrong one is caught above.
    aws_request = AWSRequest(method=request.method, url=f"http://signed.invalid{request.raw_path}", data=request.body)
    aws_request.headers = headers
    aws_request.context["timestamp"] = amz_date
    signer = _ListedHeadersSigV4(Credentials(key.access_key_id, key.secret_access_key, key.session_token),
                                 service, region)
    return signer, aws_request


def _mismatch_message(canonical: str, string_to_sign: str) -> str:
    # Like the real service, say what was expected so a client can find its mistake; the session
    # token (a credential) is masked.
    lines = ["x-amz-security-token:<redacted>" if line.startswith("x-amz-security-token:") else line
             for line in canonical.split("\n")]
    shown = "\n".join(lines)
    return (f"{SIGNATURE_MISMATCH_MESSAGE}\n\nThe Canonical String for this request should have been\n'{shown}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n")
