import dataclasses

import pytest

from core.keys import KEY_PREFIX, KeyRecord, KeyRing, mint_key, parse_key


def _mint(key_id="abc123", secret="s3cret", developer="alice", team="payments"):
    return mint_key(key_id=key_id, secret=secret, salt=b"\x01" * 16, developer=developer, team=team,
                    created_at="2026-11-23T00:00:00+00:00")


def test_minted_key_authenticates_and_only_its_hash_is_stored():
    plaintext, record = _mint()
    assert plaintext.startswith(KEY_PREFIX)
    assert "s3cret" not in str(record.to_dict())
    ring = KeyRing([record])
    assert ring.authenticate(plaintext) == record


@pytest.mark.parametrize("presented", [
    "sk-sy-abc123.wrong", "sk-sy-nope.s3cret", "sk-ant-api03-xyz", "sk-sy-abc123", "sk-sy-.x", "",
])
def test_wrong_keys_are_refused(presented):
    _, record = _mint()
    assert KeyRing([record]).authenticate(presented) is None


def test_revoked_key_is_refused():
    plaintext, record = _mint()
    assert KeyRing([dataclasses.replace(record, revoked=True)]).authenticate(plaintext) is None


def test_same_secret_different_salt_different_hash():
    _, a = mint_key(key_id="a1", secret="x", salt=b"a" * 16, developer="d", team=None, created_at="")
    _, b = mint_key(key_id="b1", secret="x", salt=b"b" * 16, developer="d", team=None, created_at="")
    assert a.secret_hash != b.secret_hash


def test_record_round_trips_through_dict():
    _, record = _mint()
    assert KeyRecord.from_dict(record.to_dict()) == record


def test_parse_key_and_bad_mint():
    assert parse_key("sk-sy-id1.sec") == ("id1", "sec")
    with pytest.raises(ValueError):
        mint_key(key_id="bad-id", secret="x", salt=b"", developer="d", team=None, created_at="")


@pytest.mark.parametrize(("developer", "team", "problem"), [
    ("d" * 3000, "payments", "developer is longer than 256"),
    ("alice", "t" * 257, "team is longer than 256"),
    ("alice\x00bob", None, "developer contains a control character"),
    ("   ", None, "developer is empty"),
])
def test_a_key_for_a_name_ingest_would_refuse_is_not_minted(developer, team, problem):
    with pytest.raises(ValueError, match=problem):
        _mint(developer=developer, team=team)

