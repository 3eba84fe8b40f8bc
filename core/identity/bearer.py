"""The bearer tokens switchyard signs for signed-in developers, and their verification.

A token is a JWT (``typ: at+jwt``, RFC 9068) signed with the key set's current key (ES256 or RS256,
named by ``kid``), carrying ``iss aud sub jti sid iat exp`` and the developer, email and groups. Claude
Code reads ``exp`` and ``sub`` without verifying; the proxy verifies everything, here: the algorithm
must be one we sign with *and* the one of the key the ``kid`` names (so ``alg: none``, or HS256 "signed"
with a public key, never reach a signature check that could pass), then signature, issuer, audience,
expiry and revocation (by ``jti``, or ``sid``: every token of one sign-in). Each refusal says why,
never echoing the token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from core.identity.claims import Identity
from core.identity.keyset import ALGORITHMS, SigningKey, VerifyingKey

TOKEN_TYPE = "at+jwt"
MAX_TOKEN_CHARS = 8192
# Clock skew tolerated between the process that signed and the one that verifies.
LEEWAY_S = 30
_REQUIRED = ("iss", "aud", "sub", "jti", "sid", "iat", "exp", "developer")


class TokenProblem(ValueError):
    """Why a bearer token is refused: a sentence for the developer, without the token."""


class UnknownKey(TokenProblem):
    """The token names a ``kid`` not in the keys given (a verifier may re-read its keys and retry)."""


@dataclass(frozen=True, slots=True)
class BearerClaims:
    identity: Identity
    jti: str  # this token
    sid: str  # the sign-in it belongs to (refreshes keep it; revoking it ends them all)
    expires_at: int
    kid: str = ""  # the key that signed it


def looks_like_jwt(token: str) -> bool:
    """A compact JWS has three base64url parts; a virtual key (``sk-sy-…``) never does."""
    return token.count(".") == 2 and token.startswith("ey")


def mint_bearer(identity: Identity, *, key: SigningKey, issuer: str, audience: str, now: int, ttl_s: int,
                jti: str, sid: str) -> str:
    claims: dict[str, object] = {
        "iss": issuer, "aud": audience, "sub": identity.subject, "jti": jti, "sid": sid,
        "iat": now, "exp": now + ttl_s, "developer": identity.developer, "groups": list(identity.groups),
    }
    if identity.email is not None:
        claims["email"] = identity.email
    return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid, "typ": TOKEN_TYPE})


def _shown(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 24 else text[:24] + "…")


def _header(token: str) -> dict[str, object]:
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenProblem(f"the bearer token is longer than {MAX_TOKEN_CHARS} characters")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise TokenProblem("the bearer token is not a well-formed JWT") from None
    return header


def _verified_claims(token: str, key: VerifyingKey, issuer: str, audience: str) -> dict[str, object]:
    try:
        claims: dict[str, object] = jwt.decode(
            token, key.public, algorithms=[key.alg], audience=audience, issuer=issuer,
            # expiry is checked below against the caller's clock (no hidden time.time())
            options={"require": list(_REQUIRED), "verify_exp": False, "verify_iat": False, "verify_nbf": False})
    except jwt.InvalidSignatureError:
        raise TokenProblem("the bearer token's signature does not verify (altered, or not signed here)") from None
    except jwt.InvalidAudienceError:
        raise TokenProblem("the bearer token was not issued for this gateway (audience)") from None
    except jwt.InvalidIssuerError:
        raise TokenProblem("the bearer token was not issued by this gateway (issuer)") from None
    except jwt.MissingRequiredClaimError as error:
        raise TokenProblem(f"the bearer token lacks the {error.claim!r} claim") from None
    except jwt.InvalidTokenError:
        raise TokenProblem("the bearer token is not a well-formed JWT") from None
    return claims


def _identity(claims: Mapping[str, object]) -> Identity:
    developer, subject, email, groups = (claims.get("developer"), claims.get("sub"), claims.get("email"),
                                         claims.get("groups", []))
    if not isinstance(developer, str) or not developer or not isinstance(subject, str):
        raise TokenProblem("the bearer token names no developer")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise TokenProblem("the bearer token's groups are not a list of names")
    return Identity(subject=subject, developer=developer, email=email if isinstance(email, str) else None,
                    groups=tuple(groups))


def verify_bearer(token: str, *, keys: Mapping[str, VerifyingKey], issuer: str, audience: str, now: int,
                  revoked: frozenset[str] = frozenset(), leeway_s: int = LEEWAY_S,
                  allow_expired: bool = False) -> BearerClaims:
    """The claims of a valid token; TokenProblem (with the reason) for any other. ``allow_expired``
    skips expiry and revocation: for revoking, which may name a token that has just expired."""
    header = _header(token)
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise TokenProblem(f"the bearer token's algorithm {_shown(alg)} is not accepted "
                           f"(tokens here are {' or '.join(ALGORITHMS)})")
    if header.get("typ") != TOKEN_TYPE:
        raise TokenProblem(f"the bearer token is not a switchyard access token (typ {_shown(header.get('typ'))})")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise UnknownKey("the bearer token is signed with a key this gateway does not know "
                           "(retired, or not issued here): sign in again with /login")
    if key.alg != alg:
        raise TokenProblem(f"the bearer token's algorithm {_shown(alg)} is not its key's ({key.alg})")
    claims = _verified_claims(token, key, issuer, audience)
    expires_at, jti, sid = claims.get("exp"), claims.get("jti"), claims.get("sid")
    if not isinstance(expires_at, int) or not isinstance(jti, str) or not isinstance(sid, str):
        raise TokenProblem("the bearer token's exp, jti or sid claim is malformed")
    verified = BearerClaims(_identity(claims), jti, sid, expires_at, key.kid)
    if not allow_expired:
        check_current(verified, now=now, revoked=revoked, leeway_s=leeway_s)
    return verified


def check_current(claims: BearerClaims, *, now: int, revoked: frozenset[str], leeway_s: int = LEEWAY_S) -> None:
    """What can change after a token was verified: it expires, or it (or its sign-in) is revoked. A
    verifier that remembers verified tokens checks this on every use (TokenProblem otherwise)."""
    if now >= claims.expires_at + leeway_s:
        when = datetime.fromtimestamp(claims.expires_at, UTC).isoformat(timespec="seconds")
        raise TokenProblem(f"the bearer token expired at {when} (Claude Code refreshes it on its own; "
                           "otherwise run /login)")
    if claims.jti in revoked or claims.sid in revoked:
        raise TokenProblem("the bearer token was revoked (signed out, or access withdrawn): run /login")
