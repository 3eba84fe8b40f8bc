"""Keys from the dashboard, on SQLite and PostgreSQL: the form's fields are checked with a reason,
an admin's key is created through store.keys (the admin API's write path: the keyring the snapshot
hands to proxies authenticates its plaintext) and revoked there, both audited with the admin's
name; anyone else is refused and that is audited too; the list shows repos and the developer's
last turn while the key was valid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from core.keys import KeyRing
from dashboard.auth import SignedInUser
from dashboard.key_actions import KeyFormError, create_for, new_key, revoke_for
from dashboard.key_reads import key_rows
from dashboard.refusals import REFUSED
from dashboard.settings import Role
from ingest.local import LocalIngest, fixed_clock
from store.audit import list_audit
from store.keys import key_records, list_keys
from store.testing import sample_turn

ADA = SignedInUser("ada", Role.admin)
NOW = datetime(2026, 11, 20, 15, 30, 12)


def _ring(engine: Engine) -> KeyRing:
    """What a proxy authenticates with: the records ingest's snapshot serves (store.keys.key_records)."""
    return KeyRing(key_records(engine))


def test_the_form_is_checked_with_a_reason() -> None:
    assert new_key(" dana ", "", "payments-api, billing", "120") == new_key("dana", None, "payments-api,billing", 120)
    key = new_key("dana", "payments", "*", "")
    assert (key.developer, key.team, key.repos, key.rate_limit_rpm) == ("dana", "payments", ("*",), None)
    assert new_key("dana", None, None, None).repos is None  # no list: any repo, unverified
    for fields, reason in [(("", None, None, None), "needs a developer"),
                           (("d\x07", None, None, None), "control character"),
                           (("d" * 257, None, None, None), "longer than 256"),
                           (("dana", None, "=cmd|x", None), "not a repo name"),
                           (("dana", None, "a,,b", None), "empty name"),
                           (("dana", None, "*,a", None), "cannot be combined"),
                           (("dana", None, None, "0"), "from 1 to 1,000,000"),
                           (("dana", None, None, "1e3"), "whole number"),
                           (("dana", None, None, "1000001"), "from 1 to"),
                           (("dana", None, "r" * 9000, None), "longer than 8192")]:
        with pytest.raises(KeyFormError, match=reason):
            new_key(*fields)


def test_an_admin_creates_a_key_the_proxies_accept_and_revokes_it(db_engine: Engine) -> None:
    created = create_for(db_engine, ADA, {"developer": "dana", "team": "payments", "repos": "payments-api",
                                          "rate_limit_rpm": "60"}, NOW)
    assert created.plaintext is not None and created.key_id is not None, created.sentence
    assert created.sentence.startswith(f"Created key {created.key_id} for dana, by ada.")
    record = _ring(db_engine).authenticate(created.plaintext)
    assert record is not None and (record.developer, record.team, record.repos, record.rate_limit_rpm) == (
        "dana", "payments", ("payments-api",), 60)
    [entry] = list_audit(db_engine, action="key.create")
    assert (entry.actor, entry.subject, entry.detail["developer"]) == ("ada", created.key_id, "dana")
    assert created.plaintext not in str(entry.detail)  # the secret is nowhere but the page
    assert "revoked" not in "".join(str(row) for row in key_rows(db_engine))

    later = NOW + timedelta(minutes=5)
    said = revoke_for(db_engine, ADA, created.key_id, later)
    assert said.startswith(f"Revoked key {created.key_id} of dana, by ada")
    assert _ring(db_engine).authenticate(created.plaintext) is None
    assert "already revoked" in revoke_for(db_engine, ADA, created.key_id, later + timedelta(minutes=1))
    [revoked] = list_audit(db_engine, action="key.revoke")
    assert (revoked.actor, revoked.subject) == ("ada", created.key_id)  # once: the second revoke changed nothing
    assert "no key" in revoke_for(db_engine, ADA, "nosuchkey", later)
    assert revoke_for(db_engine, ADA, None, later) == "Pick a key in the list first."


@pytest.mark.parametrize("role", [Role.viewer, Role.approver])
def test_only_admins_create_or_revoke_and_refusals_are_audited(db_engine: Engine, role: Role) -> None:
    victor = SignedInUser("victor", role)
    refused = create_for(db_engine, victor, {"developer": "mallory"}, NOW)
    assert refused.plaintext is None and refused.sentence.startswith("Refused:")
    assert list_keys(db_engine) == []
    kept = create_for(db_engine, ADA, {"developer": "dana"}, NOW)
    assert revoke_for(db_engine, victor, kept.key_id, NOW).startswith("Refused:")
    assert kept.plaintext is not None and _ring(db_engine).authenticate(kept.plaintext) is not None
    entries = list_audit(db_engine, action=REFUSED)
    assert sorted(e.detail["action"] for e in entries) == ["key.create", "key.revoke"]
    assert {(e.actor, e.detail["role"]) for e in entries} == {("victor", role.value)}


def test_a_bad_field_creates_nothing(db_engine: Engine) -> None:
    said = create_for(db_engine, ADA, {"developer": "dana", "repos": "=HYPERLINK(1)"}, NOW)
    assert said.plaintext is None and said.sentence.startswith("Not created: repos:")
    assert list_keys(db_engine) == [] and list_audit(db_engine, action="key.create") == []


def test_the_list_shows_repos_and_the_developers_last_turn_while_the_key_was_valid(db_engine: Engine) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def turn(index: int, developer: str, ago: timedelta) -> object:
        ns = int((now - ago).replace(tzinfo=UTC).timestamp()) * 10**9
        return sample_turn(index, start_ns=ns, end_ns=ns + 10**9, developer=developer)

    old = create_for(db_engine, ADA, {"developer": "dana", "repos": "*"}, now - timedelta(hours=5))
    revoke_for(db_engine, ADA, old.key_id, now - timedelta(hours=3))
    new = create_for(db_engine, ADA, {"developer": "dana", "repos": "api,web", "rate_limit_rpm": "5"},
                     now - timedelta(hours=2))
    idle = create_for(db_engine, ADA, {"developer": "erin"}, now - timedelta(hours=1))
    LocalIngest(db_engine, clock=fixed_clock(now)).write(
        [turn(1, "dana", timedelta(hours=4)), turn(2, "dana", timedelta(hours=1)), turn(3, "erin", timedelta(hours=2))],
        [])
    rows = {row["key_id"]: row for row in key_rows(db_engine, chunk=2)}  # two statements: a UNION ALL of 2, then 1
    assert list(rows) == [idle.key_id, new.key_id, old.key_id]  # newest first
    assert rows[old.key_id]["last_turn"] == f"{now - timedelta(hours=4):%Y-%m-%d %H:%M:%S}"  # before its revocation
    assert rows[new.key_id]["last_turn"] == f"{now - timedelta(hours=1):%Y-%m-%d %H:%M:%S}"
    assert rows[idle.key_id]["last_turn"] == "none yet"  # erin's turn came before this key existed
    assert (rows[old.key_id]["repos"], rows[new.key_id]["repos"], rows[idle.key_id]["repos"]) == (
        "any (*)", "api, web", "any (no list: unverified)")
    assert rows[old.key_id]["state"].startswith("revoked") and rows[new.key_id]["state"] == "active"
    assert rows[new.key_id]["rate_limit_rpm"] == "5 / min"
    assert rows == {row["key_id"]: row for row in key_rows(db_engine)}  # one statement, the same answer
    capped = {row["key_id"]: row["last_turn"] for row in key_rows(db_engine, last_use_limit=2)}
    assert capped[old.key_id] == "not looked up (older than the newest 2 keys)"
    assert capped[new.key_id] == rows[new.key_id]["last_turn"]
