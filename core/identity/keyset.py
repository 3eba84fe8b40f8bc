"""The keys switchyard signs developers' bearer tokens with: ES256 or RS256, each with a ``kid``,
rotated, a retired key kept (to verify, never to sign) until every token it signed has expired.

A key set is a JSON document (private keys as PKCS#8 PEM) kept in a file readable by its owner only;
reading, writing and deciding when to rotate happen elsewhere (signin.keys_file); this module turns
the document into keys and back, and says what a rotation at ``now`` changes. Times are Unix seconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALGORITHMS = ("ES256", "RS256")
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class VerifyingKey:
    kid: str
    alg: str
    public: PublicKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey
    created_at: int
    retired_at: int | None = None  # no longer signs from then on; verifies until its tokens expire

    def verifying(self) -> VerifyingKey:
        return VerifyingKey(self.kid, self.alg, self.private.public_key())


def new_signing_key(alg: str, now: int) -> SigningKey:
    if alg == "ES256":
        private: PrivateKey = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(65537, 3072)
    else:
        raise ValueError(f"bearer tokens are signed with {' or '.join(ALGORITHMS)}, not {alg!r}")
    return SigningKey(f"sy-{alg.lower()}-{secrets.token_hex(8)}", alg, private, now)


@dataclass(frozen=True)
class KeySet:
    keys: tuple[SigningKey, ...]  # the signing key first, then retired ones, newest first

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def verifying(self) -> dict[str, VerifyingKey]:
        return {key.kid: key.verifying() for key in self.keys}


def rotated(keyset: KeySet, now: int, *, rotate_after_s: int, keep_retired_s: int) -> KeySet | None:
    """The key set after a rotation check at ``now``, or None when nothing changes: a new signing key
    once the current one is ``rotate_after_s`` old; retired keys dropped ``keep_retired_s`` (the
    longest a token lives, plus leeway) after they stopped signing."""
    keys = list(keyset.keys)
    changed = False
    if rotate_after_s > 0 and now - keys[0].created_at >= rotate_after_s:
        keys = [new_signing_key(keys[0].alg, now), replace(keys[0], retired_at=now), *keys[1:]]
        changed = True
    kept = [k for k in keys if k.retired_at is None or now - k.retired_at < keep_retired_s]
    changed = changed or len(kept) != len(keys)
    return KeySet(tuple(kept)) if changed else None


def keyset_document(keyset: KeySet) -> dict[str, object]:
    return {"keys": [
        {"kid": k.kid, "alg": k.alg, "created_at": k.created_at, "retired_at": k.retired_at,
         "private_pem": k.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode("ascii")}
        for k in keyset.keys]}


def _key_from(entry: Mapping[str, object]) -> SigningKey:
    kid, alg, pem = entry.get("kid"), entry.get("alg"), entry.get("private_pem")
    if not isinstance(kid, str) or not kid or not isinstance(alg, str) or not isinstance(pem, str):
        raise ValueError("each key needs kid, alg and private_pem")
    if alg not in ALGORITHMS:
        raise ValueError(f"key {kid}: alg {alg!r} is not one of {', '.join(ALGORITHMS)}")
    private = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    expected = ec.EllipticCurvePrivateKey if alg == "ES256" else rsa.RSAPrivateKey
    if not isinstance(private, expected):
        raise ValueError(f"key {kid}: its PEM is not an {alg} key")
    if isinstance(private, ec.EllipticCurvePrivateKey) and not isinstance(private.curve, ec.SECP256R1):
        raise ValueError(f"key {kid}: ES256 needs a P-256 key")
    if isinstance(private, rsa.RSAPrivateKey) and private.key_size < 2048:
        raise ValueError(f"key {kid}: an RS256 key needs at least 2048 bits")
    created, retired = entry.get("created_at"), entry.get("retired_at")
    if not isinstance(created, int) or not (retired is None or isinstance(retired, int)):
        raise ValueError(f"key {kid}: created_at and retired_at must be Unix seconds")
    return SigningKey(kid, alg, private, created, retired)


def keyset_from_document(document: object) -> KeySet:
    """The key set in a parsed key-set file; ValueError naming what is wrong."""
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError('not a key set: expected {"keys": [ … ]} with at least one key')
    keys = tuple(_key_from(entry) if isinstance(entry, Mapping) else _key_from({}) for entry in entries)
    if keys[0].retired_at is not None:
        raise ValueError("the first key signs, so it cannot be retired")
    if len({k.kid for k in keys}) != len(keys):
        raise ValueError("two keys share a kid")
    return KeySet(keys)
