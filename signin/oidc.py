"""The company's IdP, as switchyard (an OpenID Connect relying party) talks to it.

Authorization code + PKCE (S256): the request URI, the token request and the code challenge are
authlib's (``prepare_grant_uri``, ``prepare_token_request``, ``create_s256_code_challenge``); the
transport is an ``httpx.AsyncClient`` (authlib's own httpx client is deprecated in favour of a
package we do not ship). ID tokens are verified with PyJWT against the IdP's JWKS: an asymmetric
algorithm the IdP advertises, the ``kid``'s key (the JWKS is fetched again once for an unknown kid:
the IdP rotated), ``iss``, ``aud``/``azp``, ``exp``, ``iat`` and the ``nonce`` we sent.

Two failures are told apart everywhere: :class:`IdpUnavailable` (the IdP cannot be reached or is
failing: try again later, signed-in developers keep working) and :class:`IdpRefused` (the IdP
answered no: a wrong code, or a refresh for a user who is gone).
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx
import jwt
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

# Asymmetric only: an HMAC "signed" ID token would be keyed with the client secret, and "none" is none.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
METADATA_TTL_S = 300.0
JWKS_REFETCH_MIN_S = 10.0
LEEWAY_S = 60
MAX_IDP_ANSWER_BYTES = 1024 * 1024


class IdpUnavailable(Exception):
    """The IdP cannot be reached, or answers with a server error or garbage."""


class IdpRefused(Exception):
    """The IdP answered with an OAuth error (``error`` is its code, e.g. ``invalid_grant``)."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


class IdTokenInvalid(Exception):
    """The ID token does not verify; the message says which check failed."""


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


class OidcClient:
    def __init__(self, issuer: str, client_id: str, client_secret: str | None, scopes: str,
                 http: httpx.AsyncClient) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self._http = http
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_at = -JWKS_REFETCH_MIN_S  # when a kid was last looked up again

    @property
    def where(self) -> str:
        """The IdP's host, for messages people read."""
        return _host(self.issuer)

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"accept": "application/json"})
        except httpx.HTTPError as error:
            raise IdpUnavailable(f"{_host(url)} cannot be reached ({type(error).__name__})") from error
        if response.status_code != 200 or len(response.content) > MAX_IDP_ANSWER_BYTES:
            raise IdpUnavailable(f"{_host(url)} answered {response.status_code}")
        try:
            document = response.json()
        except ValueError as error:
            raise IdpUnavailable(f"{_host(url)} answered something that is not JSON") from error
        if not isinstance(document, dict):
            raise IdpUnavailable(f"{_host(url)} answered JSON that is not an object")
        return document

    async def metadata(self, *, fresh: bool = False) -> dict[str, Any]:
        """The discovery document (cached ``METADATA_TTL_S``; ``fresh``: fetched now, so a sign-in
        learns the IdP is down before the browser is sent there)."""
        now = time.monotonic()
        if self._metadata is not None and not fresh and now - self._metadata_at < METADATA_TTL_S:
            return self._metadata
        document = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != self.issuer:
            raise IdpUnavailable(f"{self.where}'s discovery document names another issuer "
                                 "(check SWITCHYARD_OIDC_ISSUER)")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(field), str):
                raise IdpUnavailable(f"{self.where}'s discovery document has no {field}")
        self._metadata, self._metadata_at = document, now
        return document

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
        metadata = await self.metadata(fresh=True)
        return str(prepare_grant_uri(
            metadata["authorization_endpoint"], self.client_id, "code", redirect_uri=redirect_uri,
            scope=self.scopes, state=state, nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256"))

    async def _token_request(self, body: str) -> dict[str, Any]:
        metadata = await self.metadata()
        headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
        if self._secret is not None:  # client_secret_basic (RFC 6749 §2.3.1: form-encode, then base64)
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self._secret)}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:  # a public client: PKCE alone
            body += f"&client_id={quote_plus(self.client_id)}"
        try:
            response = await self._http.post(metadata["token_endpoint"], content=body, headers=headers)
        except httpx.HTTPError as error:
            raise IdpUnavailable(f"{self.where} cannot be reached ({type(error).__name__})") from error
        try:
            answer = response.json() if len(response.content) <= MAX_IDP_ANSWER_BYTES else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise IdpUnavailable(f"{self.where}'s token endpoint answered {response.status_code} without JSON")
        if 400 <= response.status_code < 500 and isinstance(answer.get("error"), str):
            raise IdpRefused(answer["error"], str(answer.get("error_description", ""))[:200])
        if response.status_code != 200:
            raise IdpUnavailable(f"{self.where}'s token endpoint answered {response.status_code}")
        return answer

    async def exchange_code(self, *, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        return await self._token_request(prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=verifier))

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        return await self._token_request(prepare_token_request("refresh_token", refresh_token=refresh_token))

    async def _fetch_jwks(self) -> jwt.PyJWKSet:
        metadata = await self.metadata()
        try:
            return jwt.PyJWKSet.from_dict(await self._get_json(metadata["jwks_uri"]))
        except jwt.PyJWTError as error:
            raise IdpUnavailable(f"{self.where}'s JWKS holds no usable key") from error

    async def _signing_key(self, kid: str | None) -> jwt.PyJWK:
        if self._jwks is None:
            self._jwks = await self._fetch_jwks()
        for attempt in (0, 1):
            for key in self._jwks.keys:
                if kid is None or key.key_id == kid:
                    return key
            # An unknown kid: the IdP rotated. Fetch again, but not more often than every
            # JWKS_REFETCH_MIN_S (tokens with made-up kids must not turn into a flood at the IdP).
            now = time.monotonic()
            if attempt == 1 or now - self._jwks_at < JWKS_REFETCH_MIN_S:
                break
            self._jwks, self._jwks_at = await self._fetch_jwks(), now
        raise IdTokenInvalid("the ID token is signed with a key the IdP does not publish")

    async def verify_id_token(self, id_token: str, *, nonce: str | None) -> dict[str, Any]:
        """The claims of a valid ID token for this client; IdTokenInvalid naming the failed check."""
        metadata = await self.metadata()
        advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        allowed = [alg for alg in ID_TOKEN_ALGORITHMS if alg in advertised]
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.DecodeError as error:
            raise IdTokenInvalid("the ID token is not a JWT") from error
        if header.get("alg") not in allowed:
            raise IdTokenInvalid(f"the ID token's algorithm {str(header.get('alg'))[:16]!r} is not accepted")
        key = await self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token, key, algorithms=allowed, audience=self.client_id, issuer=metadata["issuer"],
                leeway=LEEWAY_S, options={"require": ["iss", "aud", "sub", "exp", "iat"]})
        except jwt.PyJWTError as error:
            raise IdTokenInvalid(f"the ID token does not verify ({type(error).__name__})") from error
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise IdTokenInvalid("the ID token has several audiences and azp is not this client")
        if nonce is not None and claims.get("nonce") != nonce:
            raise IdTokenInvalid("the ID token's nonce is not the one this sign-in sent (replayed?)")
        return claims
