"""Bearer tokens from ``/login`` (signed by switchyard's sign-in service), accepted beside virtual keys.

The verification itself is core.identity.bearer's; this module holds what it needs at hand on the hot
path, with no database: the public keys, read from the sign-in service's key-set file (re-read when
it changes, checked every few seconds and at once for an unknown ``kid``: another process rotated)
and the set of revoked token and sign-in ids, pushed in by the sign-in service as it loads them. A
valid token becomes a :class:`BearerRecord`, which the rest of the proxy reads like a virtual key's
record; a bad one is a 401 ``authentication_error`` with ``x-should-retry: false`` saying why.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from core.identity.bearer import (
    BearerClaims,
    TokenProblem,
    UnknownKey,
    check_current,
    looks_like_jwt,
    verify_bearer,
)
from core.identity.keyset import VerifyingKey, keyset_from_document
from core.keys import KeyRecord

from .errors import ProxyError

log = logging.getLogger("switchyard.proxy")
# How often the key file's modification time is looked at (one stat call).
CHECK_EVERY_S = 5.0
# An unknown kid re-reads the file at most this often (a flood of forged kids costs one read a second).
UNKNOWN_KID_RELOAD_S = 1.0
# Verified tokens remembered (a signature check costs ~100× a virtual key's hash, and a developer's
# CLI sends the same bearer for its whole hour); the oldest are forgotten first past this many.
REMEMBERED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class BearerRecord(KeyRecord):
    """A signed-in developer, shaped like a virtual key's record (team: the first group; ``groups``,
    a KeyRecord field, the IdP's groups)."""

    email: str | None = None
    sid: str = ""


class BearerVerifier:
    def __init__(self, keys_file: Path, *, issuer: str, audience: str, remember: int = REMEMBERED_TOKENS) -> None:
        self._file = keys_file
        self._remember = remember
        self.issuer = issuer
        self.audience = audience
        self._keys: dict[str, VerifyingKey] = {}
        self._mtime_ns = -1
        self._checked = 0.0
        self._unknown_reload = 0.0
        self.revoked: frozenset[str] = frozenset()
        # token → (what verifying it gave, the record built from it): checked again on every use for
        # what can change (expiry, revocation, its key still in the file), never re-verified.
        self._verified: dict[str, tuple[BearerClaims, BearerRecord]] = {}
        self._reload()

    def set_revoked(self, revoked: frozenset[str]) -> None:
        self.revoked = revoked  # swapped whole: a request reads one set or the other

    def _reload(self) -> None:
        try:
            stat = self._file.stat()
            if stat.st_mtime_ns == self._mtime_ns:
                return
            if stat.st_mode & 0o077:
                raise ValueError("it is readable by group or others (chmod 600)")
            keys = keyset_from_document(json.loads(self._file.read_bytes())).verifying()
        except (OSError, ValueError) as error:  # keep the keys we have: a bad write must not lock everyone out
            log.error("bearer keys: cannot read %s: %s", self._file, error)
            return
        self._keys, self._mtime_ns = keys, stat.st_mtime_ns

    @staticmethod
    def claims(presented: str) -> bool:
        """Whether a presented credential is for this verifier (a JWT) rather than a virtual key."""
        return looks_like_jwt(presented)

    def _verify(self, token: str) -> BearerClaims:
        return verify_bearer(token, keys=self._keys, issuer=self.issuer, audience=self.audience,
                             now=int(time.time()), revoked=self.revoked)

    def authenticate(self, token: str) -> BearerRecord:
        now = time.monotonic()
        if now - self._checked >= CHECK_EVERY_S:
            self._checked = now
            self._reload()
        remembered = self._verified.get(token)
        if remembered is not None and remembered[0].kid in self._keys:
            try:
                check_current(remembered[0], now=int(time.time()), revoked=self.revoked)
            except TokenProblem as problem:
                raise ProxyError("authentication_error", str(problem)) from None
            return remembered[1]
        try:
            try:
                verified = self._verify(token)
            except UnknownKey:
                if now - self._unknown_reload < UNKNOWN_KID_RELOAD_S:
                    raise
                self._unknown_reload = now
                self._reload()  # another process may have rotated the keys a moment ago
                verified = self._verify(token)
        except TokenProblem as problem:
            raise ProxyError("authentication_error", str(problem)) from None
        identity = verified.identity
        record = BearerRecord(key_id=f"bearer:{identity.subject}"[:128], salt="", secret_hash="",
                              developer=identity.developer, team=identity.team, email=identity.email,
                              groups=identity.groups, sid=verified.sid)
        if len(self._verified) >= self._remember:
            for stale in list(self._verified)[: max(1, self._remember // 10)]:
                del self._verified[stale]
        self._verified[token] = (verified, record)
        return record
