"""The repos a virtual key may tag (issue 15, item 8): parsing and validating the list, and what a
request's x-switchyard-repo amounts to under its key (core.keys.claim_repo)."""

from __future__ import annotations

import dataclasses

import pytest

from core.keys import KeyRecord, KeyRing, claim_repo, mint_key, parse_repos, repos_problem


def _record(repos: tuple[str, ...] | None) -> KeyRecord:
    _, record = mint_key(key_id="k1", secret="s", salt=b"\x02" * 16, developer="alice", team="payments",
                         created_at="", repos=repos)
    return record


@pytest.mark.parametrize(("repos", "claimed", "expected"), [
    # no list, or "*": the client's word, kept as it came and labelled unverified
    (None, "billing", ("billing", False)),
    (None, None, (None, False)),
    (("*",), "anything-at-all", ("anything-at-all", False)),
    (("*",), None, (None, False)),
    # a list: a listed repo is verified
    (("payments-api", "billing"), "billing", ("billing", True)),
    (("payments-api",), "payments-api", ("payments-api", True)),
    # one listed repo and no header (or an empty one): that repo, so omitting it dodges nothing
    (("payments-api",), None, ("payments-api", True)),
    (("payments-api",), "", ("payments-api", True)),
])
def test_a_claim_under_a_key(repos, claimed, expected):
    claim = claim_repo(_record(repos), claimed)
    assert claim.refused is None
    assert (claim.repo, claim.verified) == expected


@pytest.mark.parametrize(("repos", "claimed", "words"), [
    (("payments-api", "billing"), "search", ["key k1", "'search'", "payments-api, billing"]),
    (("payments-api",), "Payments-API", ["'Payments-API'"]),  # names match exactly, as budgets do
    (("payments-api", "billing"), None, ["key k1 must name its repo", "payments-api, billing"]),
    (("payments-api",), "x" * 5000, ["x" * 80 + "…"]),  # a huge claim is cut in the message
])
def test_a_claim_outside_the_list_is_refused_naming_repo_and_key(repos, claimed, words):
    claim = claim_repo(_record(repos), claimed)
    assert claim.refused is not None and claim.repo is None and not claim.verified
    for word in words:
        assert word in claim.refused
    assert "x" * 81 not in claim.refused


def test_pass_through_requests_are_unverified():
    assert claim_repo(None, "billing") == claim_repo(_record(None), "billing")
    assert not claim_repo(None, "billing").verified


@pytest.mark.parametrize(("text", "expected"), [
    ("payments-api,billing", ("payments-api", "billing")),
    (" payments-api , billing ", ("payments-api", "billing")),
    ("org/payments.api,org/billing_2", ("org/payments.api", "org/billing_2")),
    ("billing,billing", ("billing",)),
    ("*", ("*",)),
])
def test_parse_repos(text, expected):
    assert parse_repos(text) == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty name"),
    ("a,,b", "empty name"),
    ("a,", "empty name"),
    ("*,billing", "cannot be combined"),
    ("=HYPERLINK(1)", "not a repo name"),  # would be a formula in a chargeback CSV
    ("+1", "not a repo name"),
    ("-x", "not a repo name"),
    ("@x", "not a repo name"),
    ("pay ments", "not a repo name"),
    ("pay\tments", "not a repo name"),
    ('a"b', "not a repo name"),
    ("x" * 257, "longer than 256"),
    (",".join(f"r{i}" for i in range(101)), "at most 100"),
])
def test_bad_repo_lists_are_refused_naming_the_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_repos(text)


def test_an_empty_list_and_non_strings_are_refused():
    assert "at least one" in (repos_problem([]) or "")
    assert "non-empty string" in (repos_problem([3]) or "")


def test_repos_round_trip_through_the_keys_document_and_old_records_have_no_list():
    record = _record(("payments-api", "billing"))
    assert KeyRing.from_document({"keys": [record.to_dict()]}).records() == [record]
    old = {k: v for k, v in record.to_dict().items() if k != "repos"}  # a keys file written before lists
    assert KeyRecord.from_dict(old).repos is None


def test_a_hand_edited_bad_list_makes_the_document_unusable_not_unrestricted():
    bad = dataclasses.replace(_record(None)).to_dict() | {"repos": ["=evil"]}
    with pytest.raises(ValueError, match="not a repo name"):
        KeyRing.from_document({"keys": [bad]})
    with pytest.raises(ValueError, match="list of repo names"):
        KeyRing.from_document({"keys": [bad | {"repos": "billing"}]})
