"""Signing keys (serialised, rotated), bearer tokens (minted, verified, each refusal named), the sealed
IdP refresh token, and the per-IP throttle."""

from __future__ import annotations

import json

import pytest

from core.identity.bearer import TokenProblem, UnknownKey, looks_like_jwt, mint_bearer, verify_bearer
from core.identity.claims import Identity
from core.identity.keyset import KeySet, keyset_document, keyset_from_document, new_signing_key, rotated
from core.identity.sealed import SealBroken, box_for, seal, unseal
from core.identity.throttle import ClientThrottle

ALICE = Identity(subject="u1", developer="alice@example.com", email="alice@example.com", groups=("platform",))
ISS = "https://gw.example.com"


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_minted_token_verifies_with_its_key_set(alg: str) -> None:
    key = new_signing_key(alg, 1000)
    token = mint_bearer(ALICE, key=key, issuer=ISS, audience=ISS, now=1000, ttl_s=600, jti="j", sid="s")
    assert looks_like_jwt(token) and not looks_like_jwt("sk-sy-abc.def")
    verified = verify_bearer(token, keys=KeySet((key,)).verifying(), issuer=ISS, audience=ISS, now=1500)
    assert (verified.identity, verified.jti, verified.sid, verified.expires_at) == (ALICE, "j", "s", 1600)


def test_expiry_revocation_and_unknown_keys_are_named() -> None:
    key = new_signing_key("ES256", 1000)
    keys = KeySet((key,)).verifying()
    token = mint_bearer(ALICE, key=key, issuer=ISS, audience=ISS, now=1000, ttl_s=600, jti="j", sid="s")
    with pytest.raises(TokenProblem, match="expired at 1970"):
        verify_bearer(token, keys=keys, issuer=ISS, audience=ISS, now=1600 + 30)
    assert verify_bearer(token, keys=keys, issuer=ISS, audience=ISS, now=1629).jti == "j"  # within leeway
    assert verify_bearer(token, keys=keys, issuer=ISS, audience=ISS, now=99999, allow_expired=True).jti == "j"
    for revoked in ({"j"}, {"s"}):
        with pytest.raises(TokenProblem, match="revoked"):
            verify_bearer(token, keys=keys, issuer=ISS, audience=ISS, now=1100, revoked=frozenset(revoked))
    with pytest.raises(UnknownKey):
        verify_bearer(token, keys={}, issuer=ISS, audience=ISS, now=1100)


def test_a_key_set_survives_its_file_and_refuses_bad_ones() -> None:
    keyset = KeySet((new_signing_key("ES256", 1), new_signing_key("RS256", 0)))
    document = json.loads(json.dumps(keyset_document(keyset)))
    again = keyset_from_document(document)
    assert [k.kid for k in again.keys] == [k.kid for k in keyset.keys]
    assert again.current.verifying().public.public_numbers() == keyset.current.verifying().public.public_numbers()
    wrong_alg = {"keys": [{**document["keys"][0], "alg": "HS256"}]}
    mislabelled = {"keys": [{**document["keys"][0], "alg": "RS256"}]}
    retired_first = {"keys": [{**document["keys"][0], "retired_at": 5}]}
    twins = {"keys": [document["keys"][0], document["keys"][0]]}
    for bad, says in ((wrong_alg, "HS256"), (mislabelled, "not an RS256 key"), (retired_first, "cannot be retired"),
                      (twins, "share a kid"), ({"keys": []}, "at least one"), ([], "not a key set")):
        with pytest.raises(ValueError, match=says):
            keyset_from_document(bad)


def test_rotation_signs_with_a_new_key_and_drops_retired_ones_after_their_tokens() -> None:
    keyset = KeySet((new_signing_key("ES256", 0),))
    assert rotated(keyset, 50, rotate_after_s=100, keep_retired_s=10) is None
    after = rotated(keyset, 100, rotate_after_s=100, keep_retired_s=10)
    assert after is not None and len(after.keys) == 2
    assert after.current.created_at == 100 and after.keys[1].retired_at == 100
    assert rotated(after, 105, rotate_after_s=100, keep_retired_s=10) is None
    dropped = rotated(after, 110, rotate_after_s=100, keep_retired_s=10)
    assert dropped is not None and [k.kid for k in dropped.keys] == [after.current.kid]
    assert rotated(keyset, 10**9, rotate_after_s=0, keep_retired_s=10) is None  # 0: never rotate


def test_a_sealed_idp_token_opens_only_with_its_secret() -> None:
    sealed = seal(box_for("device-code-A"), "idp-refresh-token")
    assert b"idp-refresh-token" not in sealed
    assert unseal("device-code-A", sealed) == "idp-refresh-token"
    with pytest.raises(SealBroken):
        unseal("device-code-B", sealed)
    with pytest.raises(SealBroken):
        unseal("device-code-A", sealed[:-1] + bytes([sealed[-1] ^ 1]))
    assert seal(box_for("x"), "t") != seal(box_for("x"), "t")  # a fresh ephemeral key each time


def test_the_throttle_is_per_address_and_bounded() -> None:
    throttle = ClientThrottle(per_minute=2, max_clients=4)
    assert [throttle.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(30.0)]
    assert throttle.take("b", 0.0) == 0.0  # another address has its own budget
    assert throttle.take("a", 30.0) == 0.0  # refilled
    for index in range(100):
        throttle.take(f"flood-{index}", 31.0)
    assert len(throttle._buckets) <= 4
