"""Who a fronting gateway's request belongs to (core/fronting.py), and the flag on a key record."""

from __future__ import annotations

import dataclasses

import pytest

from core.fronting import USER_EMAIL_HEADER, USER_ID_HEADER, asserted
from core.keys import KeyRecord, KeyRing, mint_key

_, ORDINARY = mint_key(key_id="k1", secret="s", salt=b"salt", developer="alice", team="payments", created_at="")
FRONTING = dataclasses.replace(ORDINARY, key_id="k2", developer="claude-gateway", fronting_gateway=True)


def test_no_assertion_is_the_key_itself() -> None:
    assert asserted(ORDINARY, {}).record is ORDINARY
    assert asserted(FRONTING, {"x-api-key": "…"}).record is FRONTING


@pytest.mark.parametrize(("headers", "developer"), [
    ({USER_ID_HEADER: "u1", USER_EMAIL_HEADER: "dana@example.com"}, "dana@example.com"),
    ({USER_ID_HEADER: "00u1abc"}, "00u1abc"),
    ({USER_EMAIL_HEADER: "j%C3%B6rg%40example.com"}, "jörg@example.com"),
])
def test_a_fronting_key_names_the_developer_and_keeps_the_rest(headers: dict[str, str], developer: str) -> None:
    record = asserted(FRONTING, headers).record
    assert record is not None and record.developer == developer
    assert (record.key_id, record.team, record.fronting_gateway) == ("k2", "payments", True)


@pytest.mark.parametrize("headers", [{USER_ID_HEADER: "u1"}, {USER_EMAIL_HEADER: "ceo@example.com"},
                                     {USER_EMAIL_HEADER: ""}])
def test_any_other_key_is_refused(headers: dict[str, str]) -> None:
    decided = asserted(ORDINARY, headers)
    assert decided.record is None and decided.refused is not None and "fronting gateway" in decided.refused


@pytest.mark.parametrize("value", ["%0A", "a%00b", "%FF", "x" * 257, "%20"])
def test_unusable_values_are_refused(value: str) -> None:
    assert asserted(FRONTING, {USER_EMAIL_HEADER: value}).refused is not None


def test_the_flag_survives_the_keys_file_and_only_true_sets_it() -> None:
    ring = KeyRing.from_document({"keys": [FRONTING.to_dict()]})
    assert ring.records()[0].fronting_gateway is True
    assert KeyRecord.from_dict({**FRONTING.to_dict(), "fronting_gateway": "false"}).fronting_gateway is False
    assert KeyRecord.from_dict({k: v for k, v in ORDINARY.to_dict().items() if k != "fronting_gateway"}
                               ).fronting_gateway is False
