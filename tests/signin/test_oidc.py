"""switchyard as the IdP's relying party (signin/oidc.py) against the test IdP: the ID token checks,
the JWKS fetched again when the IdP rotates, and the IdP's refresh token never stored in the clear."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from signin.oidc import IdpUnavailable, IdTokenInvalid, OidcClient
from sim.idp import TestIdP
from sim.idp_config import DEMO_CLIENT, IdpConfig
from store.schema import signin_refresh_tokens
from store.testing import migrated_sqlite_url
from tests.signin.harness import signin_gateway


@pytest.fixture
def idp() -> Iterator[TestIdP]:
    with TestIdP() as running:
        yield running


def _claims(idp: TestIdP, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": idp.issuer, "aud": "switchyard", "sub": "user-alice", "email": "alice@example.com",
            "iat": now, "exp": now + 300, "nonce": "n", **overrides}


def _verify(idp: TestIdP, token: str, nonce: str | None = "n") -> dict[str, object]:
    async def run() -> dict[str, object]:
        async with httpx.AsyncClient() as http:
            client = OidcClient(idp.issuer, "switchyard", "switchyard-secret", "openid", http)
            return await client.verify_id_token(token, nonce=nonce)
    return asyncio.run(run())


def test_a_good_id_token_verifies(idp: TestIdP) -> None:
    assert _verify(idp, idp.state.keys.sign(_claims(idp)))["email"] == "alice@example.com"


@pytest.mark.parametrize(("overrides", "says"), [
    ({"aud": "another-client"}, "does not verify"),
    ({"iss": "https://evil.example"}, "does not verify"),
    ({"exp": int(time.time()) - 3600}, "does not verify"),
    ({"nonce": "replayed"}, "nonce"),
    ({"aud": ["switchyard", "other"], "azp": "other"}, "several audiences"),
])
def test_id_tokens_that_must_not_sign_anyone_in(idp: TestIdP, overrides: dict[str, object], says: str) -> None:
    with pytest.raises(IdTokenInvalid, match=says):
        _verify(idp, idp.state.keys.sign(_claims(idp, **overrides)))


def test_an_hmac_id_token_keyed_with_anything_is_refused(idp: TestIdP) -> None:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': idp.state.keys.current.kid}).encode())}." \
                    f"{b64(json.dumps(_claims(idp)).encode())}"
    token = f"{signing_input}.{b64(hmac.new(b'switchyard-secret', signing_input.encode(), sha256).digest())}"
    with pytest.raises(IdTokenInvalid, match="algorithm 'HS256' is not accepted"):
        _verify(idp, token)


def test_a_rotated_idp_key_is_fetched_and_an_idp_that_is_down_is_unavailable(idp: TestIdP) -> None:
    async def run() -> None:
        async with httpx.AsyncClient() as http:
            client = OidcClient(idp.issuer, "switchyard", "switchyard-secret", "openid", http)
            assert (await client.verify_id_token(idp.state.keys.sign(_claims(idp)), nonce="n"))["sub"]
            idp.state.keys.rotate("ES256")  # the cached JWKS does not have it yet
            assert (await client.verify_id_token(idp.state.keys.sign(_claims(idp)), nonce="n"))["sub"]
            idp.go_down()
            try:
                with pytest.raises(IdpUnavailable, match="cannot be reached"):
                    await client.metadata(fresh=True)
            finally:
                idp.come_back()
    asyncio.run(run())


def test_the_idps_refresh_token_is_stored_sealed(tmp_path: Path) -> None:
    config = IdpConfig(clients=(DEMO_CLIENT,))
    with signin_gateway(tmp_path, migrated_sqlite_url(tmp_path), idp_config=config) as gateway:
        gateway.sign_in()
        idp_tokens = list(gateway.idp.state.refresh_tokens)
        assert idp_tokens  # the IdP gave one (offline_access)
        with gateway.signin.ctx.engine.connect() as connection:
            sealed = connection.execute(select(signin_refresh_tokens.c.idp_refresh_sealed)).scalar_one()
        assert sealed and all(token.encode() not in sealed for token in idp_tokens)
