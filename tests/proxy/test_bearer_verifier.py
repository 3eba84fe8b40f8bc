"""The proxy's bearer check remembers verified tokens (a signature check costs ~100× a virtual key's
hash), but every use still checks what can change: expiry, revocation, and the key still in the file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from core.identity.bearer import mint_bearer
from core.identity.claims import Identity
from core.identity.keyset import KeySet, keyset_document, new_signing_key
from proxy.bearer import BearerVerifier
from proxy.errors import ProxyError

ISS = "https://gw.example"
ALICE = Identity("u1", "alice@example.com", "alice@example.com", ("platform", "eng"))


def _verifier(tmp_path: Path, remember: int = 10_000) -> tuple[BearerVerifier, KeySet]:
    keyset = KeySet((new_signing_key("ES256", int(time.time())),))
    path = tmp_path / "signin-keys.json"
    path.write_text(json.dumps(keyset_document(keyset)))
    os.chmod(path, 0o600)
    return BearerVerifier(path, issuer=ISS, audience=ISS, remember=remember), keyset


def _token(keyset: KeySet, *, now: int, ttl: int = 600, jti: str = "j1") -> str:
    return mint_bearer(ALICE, key=keyset.current, issuer=ISS, audience=ISS, now=now, ttl_s=ttl, jti=jti, sid="s1")


def test_a_verified_token_becomes_a_record_like_a_virtual_keys(tmp_path: Path) -> None:
    verifier, keyset = _verifier(tmp_path)
    record = verifier.authenticate(_token(keyset, now=int(time.time())))
    assert (record.developer, record.team, record.groups, record.email) == (
        "alice@example.com", "platform", ("platform", "eng"), "alice@example.com")
    assert record.rate_limit_rpm is None and record.repos is None and record.sid == "s1"


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    verifier, keyset = _verifier(tmp_path)
    now = int(time.time())
    token = _token(keyset, now=now - 600 - 29, ttl=600)  # expired 29 s ago: inside the 30 s leeway
    verifier.authenticate(token)
    time.sleep(1.5)
    with pytest.raises(ProxyError, match="expired at"):
        verifier.authenticate(token)


def test_a_remembered_token_is_refused_once_revoked(tmp_path: Path) -> None:
    verifier, keyset = _verifier(tmp_path)
    token = _token(keyset, now=int(time.time()))
    verifier.authenticate(token)
    verifier.set_revoked(frozenset({"s1"}))
    with pytest.raises(ProxyError, match="revoked") as refused:
        verifier.authenticate(token)
    assert refused.value.status == 401 and (b"x-should-retry", b"false") in refused.value.headers


def test_memory_is_bounded(tmp_path: Path) -> None:
    verifier, keyset = _verifier(tmp_path, remember=20)
    now = int(time.time())
    for index in range(50):
        verifier.authenticate(_token(keyset, now=now, jti=f"j{index}"))
    assert len(verifier._verified) <= 20


def test_a_key_file_others_can_read_is_not_used(tmp_path: Path) -> None:
    keyset = KeySet((new_signing_key("ES256", int(time.time())),))
    path = tmp_path / "signin-keys.json"
    path.write_text(json.dumps(keyset_document(keyset)))
    os.chmod(path, 0o644)
    verifier = BearerVerifier(path, issuer=ISS, audience=ISS)
    with pytest.raises(ProxyError, match="key this gateway does not know"):
        verifier.authenticate(_token(keyset, now=int(time.time())))
