"""Every bearer the proxy must refuse, refused: a 401 authentication_error with x-should-retry: false and
a message that says why without echoing the token. And key rotation: a token keeps verifying after its
key is retired, until the key is dropped."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from core.identity.bearer import mint_bearer
from core.identity.claims import Identity
from core.identity.keyset import new_signing_key
from proxy.bearer import CHECK_EVERY_S
from signin.keys_file import read_keys, rotate_if_due
from store.testing import migrated_sqlite_url
from tests.loopback import wait_until
from tests.signin.harness import SigninGateway, signin_gateway

ALICE = Identity(subject="user-alice", developer="alice@example.com", email="alice@example.com",
                 groups=("platform",))


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[SigninGateway]:
    with signin_gateway(tmp_path, migrated_sqlite_url(tmp_path)) as running:
        yield running


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _claims(gateway: SigninGateway, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": gateway.url, "aud": gateway.url, "sub": "user-alice", "jti": "j1", "sid": "s1", "iat": now,
            "exp": now + 600, "developer": "mallory@example.com", "groups": ["admins"], **overrides}


def _mint(gateway: SigninGateway, *, now: int | None = None, ttl: int = 600, audience: str | None = None,
          issuer: str | None = None) -> str:
    key = read_keys(gateway.keys_file).current
    return mint_bearer(ALICE, key=key, issuer=issuer or gateway.url, audience=audience or gateway.url,
                       now=now if now is not None else int(time.time()), ttl_s=ttl, jti="jti-1", sid="sid-1")


def _refused(gateway: SigninGateway, token: str, why: str) -> None:
    reply = gateway.messages(token)
    assert reply.status_code == 401, reply.text
    assert reply.headers["x-should-retry"] == "false"
    error = reply.json()["error"]
    assert error["type"] == "authentication_error"
    assert why in error["message"], error["message"]
    for part in token.split("."):
        assert len(part) < 8 or part not in reply.text  # no piece of the token comes back
    assert not gateway.upstream.requests  # nothing reached the upstream


def test_a_valid_token_is_accepted(gateway: SigninGateway) -> None:
    assert gateway.messages(_mint(gateway)).status_code == 200


def test_a_tampered_token_is_refused(gateway: SigninGateway) -> None:
    header, _, signature = _mint(gateway).split(".")
    forged = f"{header}.{_b64(json.dumps(_claims(gateway)).encode())}.{signature}"
    _refused(gateway, forged, "signature does not verify")


def test_an_expired_token_is_refused(gateway: SigninGateway) -> None:
    _refused(gateway, _mint(gateway, now=int(time.time()) - 7200, ttl=3600), "expired at")


def test_a_token_for_another_audience_or_issuer_is_refused(gateway: SigninGateway) -> None:
    _refused(gateway, _mint(gateway, audience="https://other-gateway.example"), "not issued for this gateway")
    _refused(gateway, _mint(gateway, issuer="https://other-gateway.example"), "not issued by this gateway")


def test_alg_none_is_refused(gateway: SigninGateway) -> None:
    kid = read_keys(gateway.keys_file).current.kid
    _refused(gateway, _unsigned({"alg": "none", "typ": "at+jwt", "kid": kid}, _claims(gateway)) + ".",
             "algorithm 'none' is not accepted")


def test_hs256_signed_with_the_public_key_is_refused(gateway: SigninGateway) -> None:
    """The classic confusion: HMAC keyed with the verifier's public key, which anyone can fetch."""
    key = read_keys(gateway.keys_file).current
    public_pem = key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = _unsigned({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, _claims(gateway))
    signature = _b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    _refused(gateway, f"{signing_input}.{signature}", "algorithm 'HS256' is not accepted")


def test_a_token_signed_by_a_key_we_never_had_is_refused(gateway: SigninGateway) -> None:
    stranger = new_signing_key("ES256", int(time.time()))
    token = mint_bearer(ALICE, key=stranger, issuer=gateway.url, audience=gateway.url, now=int(time.time()),
                        ttl_s=600, jti="j", sid="s")
    _refused(gateway, token, "key this gateway does not know")


def test_an_algorithm_that_is_not_its_keys_is_refused(gateway: SigninGateway) -> None:
    key = read_keys(gateway.keys_file).current  # an ES256 key; the header claims RS256
    rsa = new_signing_key("RS256", int(time.time()))
    forged = mint_bearer(ALICE, key=rsa, issuer=gateway.url, audience=gateway.url, now=int(time.time()),
                         ttl_s=600, jti="j", sid="s")
    _, payload, signature = forged.split(".")
    relabelled = _b64(json.dumps({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}).encode())
    _refused(gateway, f"{relabelled}.{payload}.{signature}", "is not its key's (ES256)")


def test_malformed_and_oversized_tokens_are_refused(gateway: SigninGateway) -> None:
    _refused(gateway, "eyJub3QiOiJqc29u.eyJ4IjoxfQ.c2ln", "not a well-formed JWT")
    _refused(gateway, "ey" + "A" * 9000 + ".e.e", "longer than 8192")
    wrong_type = _unsigned({"alg": "ES256", "typ": "JWT", "kid": "k"}, _claims(gateway)) + ".c2ln"
    _refused(gateway, wrong_type, "not a switchyard access token")


def test_no_credential_and_a_wrong_virtual_key_are_still_refused_as_before(gateway: SigninGateway) -> None:
    reply = httpx.post(gateway.url + "/v1/messages", json={}, timeout=10)
    assert reply.status_code == 401 and reply.headers["x-should-retry"] == "false"
    reply = httpx.post(gateway.url + "/v1/messages", json={}, headers={"x-api-key": "sk-sy-abc.def"}, timeout=10)
    assert reply.status_code == 401 and "invalid x-api-key" in reply.text


def test_rotation_keeps_old_tokens_until_their_key_is_dropped(gateway: SigninGateway) -> None:
    old = _mint(gateway)
    now = int(time.time())
    # Another process rotates the shared key file: a new key signs, the old one is retired.
    rotated = rotate_if_due(gateway.keys_file, now + 40 * 86400, rotate_after_s=30 * 86400, keep_retired_s=3600)
    assert len(rotated.keys) == 2 and rotated.keys[1].retired_at is not None
    new = _mint(gateway)  # signed with the new current key: the proxy re-reads the file for its kid
    assert gateway.messages(new).status_code == 200
    assert gateway.messages(old).status_code == 200  # retired, still verifying
    # Past the retired key's keep time the next check drops it: its tokens are refused once the proxy
    # has looked at the file again (every CHECK_EVERY_S).
    rotate_if_due(gateway.keys_file, now + 40 * 86400 + 3601, rotate_after_s=30 * 86400, keep_retired_s=3600)
    assert len(read_keys(gateway.keys_file).keys) == 1
    wait_until(lambda: gateway.messages(old).status_code == 401, timeout=CHECK_EVERY_S + 5, what="the key dropped")
    assert gateway.messages(new).status_code == 200
    gateway.upstream.clear()
    _refused(gateway, old, "key this gateway does not know")
