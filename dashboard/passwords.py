"""Password hashes for dashboard users: scrypt (default) or PBKDF2-SHA256, from hashlib, in one
self-describing text so the parameters can grow without breaking stored hashes::

    scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>
    pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# OWASP's current minimum for scrypt: N=2^17, r=8, p=1 (128 MiB and a few hundred ms per check).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
PBKDF2_ITERATIONS = 600_000  # OWASP's figure for PBKDF2-HMAC-SHA256
_KEY_BYTES = 32
# scrypt needs 128 * n * r bytes (plus a little); hashlib refuses above 32 MiB unless told. The cap
# leaves room for n=2^18 should the advice grow, and refuses hashes that would eat the machine.
_SCRYPT_MAXMEM = 300 * 1024 * 1024
# Checked when the user name is unknown, so a wrong name takes as long as a wrong password.
_DECOY = "scrypt$131072$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


class PasswordHashError(ValueError):
    """A stored hash that cannot be read (wrong scheme or fields)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as error:
        raise PasswordHashError("a password hash has a malformed base64 field") from error


def hash_password(password: str, *, scheme: str = "scrypt") -> str:
    salt = secrets.token_bytes(16)
    if scheme == "scrypt":
        digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=_KEY_BYTES,
                                maxmem=_SCRYPT_MAXMEM)
        return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"
    if scheme == "pbkdf2_sha256":
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS, _KEY_BYTES)
        return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"
    raise ValueError(f"unknown password scheme {scheme!r}: use scrypt or pbkdf2_sha256")


def _recompute(password: str, stored: str) -> tuple[bytes, bytes]:
    fields = stored.split("$")
    try:
        if fields[0] == "scrypt" and len(fields) == 6:
            n, r, p = (int(value) for value in fields[1:4])
            salt, expected = _unb64(fields[4]), _unb64(fields[5])
            return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(expected),
                                  maxmem=_SCRYPT_MAXMEM), expected
        if fields[0] == "pbkdf2_sha256" and len(fields) == 4:
            iterations = int(fields[1])
            salt, expected = _unb64(fields[2]), _unb64(fields[3])
            return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, len(expected)), expected
    except ValueError as error:  # int() of a non-number, or scrypt refusing its parameters
        raise PasswordHashError(f"unreadable password hash: {error}") from error
    raise PasswordHashError("a password hash must start with scrypt$ or pbkdf2_sha256$ and have all its fields")


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; a missing user (``stored`` None) costs the same time."""
    actual, expected = _recompute(password, stored if stored is not None else _DECOY)
    return stored is not None and hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with weaker parameters than ``hash_password`` uses today (an
    older scrypt, or PBKDF2 with fewer iterations): the user should get a new hash."""
    fields = stored.split("$")
    try:
        if fields[0] == "scrypt" and len(fields) == 6:
            n, r, p = (int(value) for value in fields[1:4])
            return n < SCRYPT_N or r < SCRYPT_R or p < SCRYPT_P
        if fields[0] == "pbkdf2_sha256" and len(fields) == 4:
            return int(fields[1]) < PBKDF2_ITERATIONS
    except ValueError as error:
        raise PasswordHashError(f"unreadable password hash: {error}") from error
    raise PasswordHashError("a password hash must start with scrypt$ or pbkdf2_sha256$ and have all its fields")
