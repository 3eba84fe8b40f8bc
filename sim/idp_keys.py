"""The test IdP's signing keys: RS256 and ES256, rotated, the retired ones still published a while.

A real IdP (Okta, Entra ID, Google, Keycloak) rotates its ID-token keys and keeps the previous one
in its JWKS until tokens it signed have expired, so a relying party that cached the JWKS must look a
new ``kid`` up again. This reproduces that: :meth:`IdpKeys.rotate` makes a new current key and keeps
the older ones (up to ``keep``) in :meth:`IdpKeys.jwks`, so tests can sign with either and drop one.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class IdpKey:
    kid: str
    alg: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        if self.alg == "RS256":
            jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))  # type: ignore[arg-type]
        else:
            jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))  # type: ignore[arg-type]
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def new_key(alg: str) -> IdpKey:
    if alg == "RS256":
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = rsa.generate_private_key(65537, 2048)
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"the test IdP signs with {' or '.join(ALGORITHMS)}, not {alg!r}")
    return IdpKey(f"{alg.lower()}-{secrets.token_hex(6)}", alg, private)


class IdpKeys:
    """The current signing key and the retired ones still in the JWKS (newest first)."""

    def __init__(self, alg: str = "RS256", keep: int = 2) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1 (the current key)")
        self._keep = keep
        self._lock = threading.Lock()  # rotated from the test thread, read by the server's loop
        self._keys = [new_key(alg)]

    @property
    def current(self) -> IdpKey:
        return self._keys[0]

    def all(self) -> list[IdpKey]:
        with self._lock:
            return list(self._keys)

    def rotate(self, alg: str | None = None) -> IdpKey:
        """A new current key (of ``alg``, by default the current one's); the oldest beyond ``keep`` leaves."""
        key = new_key(alg or self.current.alg)
        with self._lock:
            self._keys = [key, *self._keys][: self._keep]
        return key

    def drop(self, kid: str) -> None:
        """Stop publishing a retired key (tokens it signed no longer verify). The current one stays."""
        with self._lock:
            if self._keys[0].kid == kid:
                raise ValueError("the current key cannot be dropped; rotate first")
            self._keys = [k for k in self._keys if k.kid != kid]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.all()]}

    def sign(self, claims: dict[str, Any], key: IdpKey | None = None) -> str:
        key = key or self.current
        return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid})
