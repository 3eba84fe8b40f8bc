"""The test IdP holds relying parties to what real IdPs do: PKCE (S256) required, single-use codes
bound to client, redirect URI and challenge; ID tokens signed with a rotating JWKS (RS256, ES256);
disabled users refused; an outage that refuses connections until it comes back."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from sim.idp import TestIdP

REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def idp() -> Iterator[TestIdP]:
    with TestIdP() as running:
        yield running


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(idp: TestIdP, http: httpx.Client, verifier: str, *, scope: str = "openid email groups",
              user: str = "alice", **override: str) -> httpx.Response:
    params = {"response_type": "code", "client_id": "switchyard", "redirect_uri": REDIRECT, "scope": scope,
              "state": "st", "nonce": "n-1", "code_challenge": challenge(verifier), "code_challenge_method": "S256",
              **override}
    form = http.get(idp.issuer + "/authorize", params=params)
    if form.status_code != 200 or 'name="tx"' not in form.text:
        return form
    tx = re.search(r'name="tx" value="([^"]+)"', form.text)
    assert tx is not None
    return http.post(idp.issuer + "/login", data={"tx": tx.group(1), "username": user, "password": f"{user}-password"})


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["st"]
    return query["code"][0]


def redeem(idp: TestIdP, code: str, verifier: str) -> httpx.Response:
    return httpx.post(idp.issuer + "/token", auth=("switchyard", "switchyard-secret"),
                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                            "code_verifier": verifier})


def verify(idp: TestIdP, id_token: str) -> dict[str, object]:
    jwks = jwt.PyJWKSet.from_dict(httpx.get(idp.issuer + "/jwks").json())
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return dict(jwt.decode(id_token, key, algorithms=["RS256", "ES256"], audience="switchyard", issuer=idp.issuer))


def test_discovery_and_an_authorization_code_with_pkce(idp: TestIdP) -> None:
    document = httpx.get(idp.issuer + "/.well-known/openid-configuration").json()
    assert document["issuer"] == idp.issuer and document["code_challenge_methods_supported"] == ["S256"]
    verifier = secrets.token_urlsafe(48)
    with httpx.Client() as http:
        tokens = redeem(idp, code_of(authorize(idp, http, verifier)), verifier).json()
    claims = verify(idp, tokens["id_token"])
    assert claims["email"] == "alice@example.com" and claims["groups"] == ["platform", "claude-users"]
    assert claims["nonce"] == "n-1" and claims["sub"] == "user-alice"
    assert "refresh_token" not in tokens  # no offline_access asked for


@pytest.mark.parametrize("problem", ["no pkce", "plain pkce", "wrong verifier", "reused code", "other redirect"])
def test_what_a_relying_party_gets_wrong_is_refused(idp: TestIdP, problem: str) -> None:
    verifier = secrets.token_urlsafe(48)
    with httpx.Client() as http:
        if problem in ("no pkce", "plain pkce"):
            override = {"code_challenge_method": ""} if problem == "no pkce" else {"code_challenge_method": "plain"}
            refused = authorize(idp, http, verifier, **override)
            assert refused.status_code == 302 and "error=invalid_request" in refused.headers["location"]
            return
        if problem == "other redirect":
            page = authorize(idp, http, verifier, redirect_uri="https://evil.example/cb")
            assert page.status_code == 400 and "location" not in page.headers  # never redirected there
            return
        code = code_of(authorize(idp, http, verifier))
    if problem == "wrong verifier":
        answer = redeem(idp, code, secrets.token_urlsafe(48))
    else:
        assert redeem(idp, code, verifier).status_code == 200
        answer = redeem(idp, code, verifier)
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_a_wrong_password_and_a_disabled_user_cannot_sign_in(idp: TestIdP) -> None:
    with httpx.Client() as http:
        form = http.get(idp.issuer + "/authorize", params={
            "response_type": "code", "client_id": "switchyard", "redirect_uri": REDIRECT, "scope": "openid",
            "code_challenge": challenge("v" * 43), "code_challenge_method": "S256"})
        tx = re.search(r'name="tx" value="([^"]+)"', form.text)
        assert tx is not None
        wrong = http.post(idp.issuer + "/login", data={"tx": tx.group(1), "username": "alice", "password": "x"})
        assert wrong.status_code == 401
        idp.state.disable("bob")
        assert authorize(idp, http, "v" * 43, user="bob").status_code == 401


def test_refresh_works_until_the_user_is_disabled(idp: TestIdP) -> None:
    verifier = secrets.token_urlsafe(48)
    with httpx.Client() as http:
        tokens = redeem(idp, code_of(authorize(idp, http, verifier, scope="openid offline_access")), verifier).json()
    again = httpx.post(idp.issuer + "/token", auth=("switchyard", "switchyard-secret"),
                       data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 200 and verify(idp, again.json()["id_token"])["sub"] == "user-alice"
    idp.state.disable("alice")
    refused = httpx.post(idp.issuer + "/token", auth=("switchyard", "switchyard-secret"),
                         data={"grant_type": "refresh_token", "refresh_token": again.json()["refresh_token"]})
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


def test_keys_rotate_with_the_old_one_published_until_dropped(idp: TestIdP) -> None:
    first = idp.state.keys.current
    second = idp.state.keys.rotate("ES256")
    kids = [k["kid"] for k in httpx.get(idp.issuer + "/jwks").json()["keys"]]
    assert kids == [second.kid, first.kid]
    verifier = secrets.token_urlsafe(48)
    with httpx.Client() as http:
        token = redeem(idp, code_of(authorize(idp, http, verifier)), verifier).json()["id_token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256" and verify(idp, token)["email"] == "alice@example.com"
    idp.state.keys.drop(first.kid)
    assert [k["kid"] for k in httpx.get(idp.issuer + "/jwks").json()["keys"]] == [second.kid]


def test_an_outage_refuses_connections_then_the_same_issuer_comes_back(idp: TestIdP) -> None:
    with httpx.Client() as http:
        assert http.get(idp.issuer + "/jwks").status_code == 200  # a kept-alive connection
        idp.go_down()
        with pytest.raises(httpx.TransportError):
            http.get(idp.issuer + "/jwks")
        idp.come_back()
        assert http.get(idp.issuer + "/jwks").status_code == 200
