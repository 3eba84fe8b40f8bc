"""The policy's guardrails block: its shape (YAML's bare `off` included), what validate() reports,
which action applies to a request (most specific first; an unverified repo only tightens), the
allow-list's matching, the diff of two versions and what an allow-list change is."""

from __future__ import annotations

import pytest

from core.policy.compile import compile_policy
from core.policy.diff import PolicyDiff, diff, render_diff
from core.policy.guardrails import allowlist_change, prepare_guardrails
from core.policy.load import dump_policy, load_policy
from core.policy.problems import PolicyError
from core.policy.schema import GuardrailAllow, Guardrails
from core.policy.validate import validate

HEAD = """version: v1
targets: [{name: a, base_url: "https://api.anthropic.com"}]
default: {route: [a]}
"""
FP = "0123456789abcdef01234567"


def _load(guardrails: str) -> object:
    return load_policy(HEAD + "guardrails: " + guardrails)


def test_flag_is_the_default_and_a_bare_yaml_off_means_off() -> None:
    assert load_policy(HEAD).guardrails.secrets == "flag"
    policy = load_policy(HEAD + "guardrails:\n  secrets: off\n  overrides: [{scope: repo, name: r, secrets: off}]\n")
    assert policy.guardrails.secrets == "off" and policy.guardrails.overrides[0].secrets == "off"
    assert load_policy(dump_policy(policy)) == policy  # dumped as 'off', quoted: it loads back the same


@pytest.mark.parametrize(("text", "where"), [
    ("{secrets: redact}", "guardrails.secrets"),
    ("{secrets: true}", "guardrails.secrets"),
    ("{allow: {fingerprints: [ABCDEF]}}", "guardrails.allow.fingerprints"),
    ("{allow: {paths: ['  ']}}", "guardrails.allow.paths"),
    ("{overrides: [{scope: org, name: x, secrets: block}]}", "guardrails.overrides[0].scope"),
    ("{overrides: [{scope: team, name: x}]}", "guardrails.overrides[0].secrets"),
    ("{secrets: flag, redact: true}", "guardrails.redact"),
])
def test_shapes_that_are_refused_with_their_place(text: str, where: str) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(HEAD + "guardrails: " + text)
    assert any(problem.path.startswith(where) for problem in raised.value.problems), raised.value


def test_validate_reports_duplicates_wildcards_and_no_ops() -> None:
    policy = load_policy(HEAD + f"""guardrails:
  secrets: flag
  overrides:
    - {{scope: team, name: payments, secrets: block}}
    - {{scope: team, name: payments, secrets: off}}
    - {{scope: developer, name: "*", secrets: off}}
    - {{scope: team, name: web, secrets: flag}}
  allow: {{fingerprints: ["{FP}", "{FP}"], paths: ["*", "*/fixtures/*"]}}
""")
    found = {(p.path, p.severity) for p in validate(policy)}
    assert found == {("guardrails.overrides[1]", "error"), ("guardrails.overrides[2].name", "error"),
                     ("guardrails.overrides[3].secrets", "warning"), ("guardrails.allow.fingerprints[1]", "warning"),
                     ("guardrails.allow.paths[0]", "warning")}
    with pytest.raises(PolicyError):
        compile_policy(policy)


TABLE = prepare_guardrails(Guardrails.model_validate({"secrets": "flag", "overrides": [
    {"scope": "team", "name": "payments", "secrets": "block"},
    {"scope": "repo", "name": "sandbox", "secrets": "off"},
    {"scope": "repo", "name": "vault", "secrets": "block"},
    {"scope": "developer", "name": "carol", "secrets": "off"},
]}))


@pytest.mark.parametrize(("developer", "team", "repo", "verified", "action"), [
    ("alice", "web", None, None, "flag"),  # the default
    ("alice", "payments", None, None, "block"),  # the team's
    ("alice", "payments", "sandbox", False, "block"),  # an unverified repo cannot relax the team's block
    ("alice", "payments", "sandbox", True, "off"),  # a verified one can
    ("alice", "web", "sandbox", False, "flag"),  # nor the default
    ("alice", "web", "vault", False, "block"),  # tightening needs no verification
    ("carol", "payments", "vault", True, "off"),  # the developer's override is the most specific
    (None, None, None, None, "flag"),  # pass-through: no key, the default
])
def test_the_most_specific_override_wins_and_an_unverified_repo_only_tightens(
        developer: str | None, team: str | None, repo: str | None, verified: bool | None, action: str) -> None:
    assert TABLE.action(developer, team, repo, verified) == action


def test_allowed_paths_use_fnmatch_rules_and_fingerprints_match_exactly() -> None:
    table = prepare_guardrails(Guardrails(allow=GuardrailAllow(fingerprints=(FP,),
                                                               paths=("*/tests/fixtures/*", "*.example.env"))))
    assert table.allows_path("/repo/tests/fixtures/keys/aws.json")
    assert table.allows_path("/home/a/proj/.env.example.env")
    assert not table.allows_path("/repo/src/tests_fixtures.py") and not table.allows_path(None)
    assert table.allows_fingerprint(FP) and not table.allows_fingerprint(FP.upper())
    assert prepare_guardrails(Guardrails()).allows_path("/anything") is False


def test_a_guardrails_change_is_in_the_diff_and_round_trips() -> None:
    old, new = load_policy(HEAD), load_policy(HEAD.replace("v1", "v2") + f"""guardrails:
  secrets: block
  allow: {{fingerprints: ["{FP}"]}}
""")
    change = diff(old, new)
    assert not change.is_empty
    assert render_diff(change).splitlines()[1] == (
        f'~ guardrails: secrets flag → block; allow.fingerprints [] → ["{FP}"]')
    assert PolicyDiff.from_dict(change.to_dict()) == change
    stored_before = {k: v for k, v in change.to_dict().items() if k != "guardrails"}
    assert PolicyDiff.from_dict(stored_before).guardrails == ()  # a diff stored before the block existed


def test_what_an_allow_list_change_adds_and_removes() -> None:
    before = GuardrailAllow(fingerprints=(FP,), paths=("*/fixtures/*",))
    after = GuardrailAllow(fingerprints=("f" * 24,), paths=("*/fixtures/*",))
    change = allowlist_change(before, after)
    assert change.to_dict() == {"added_fingerprints": ["f" * 24], "removed_fingerprints": [FP],
                                "added_paths": [], "removed_paths": []}
    assert not allowlist_change(before, before)
    assert allowlist_change(None, before).added_paths == ("*/fixtures/*",)
