"""Managed settings documents: validated as Claude Code reads them, checksummed exactly as it does,
chosen by group, carried by the policy (load, diff)."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from core.policy.diff import diff, render_diff
from core.policy.load import load_policy
from core.policy.managed_settings import (
    DEFAULT_SETTINGS,
    MAX_DOCUMENT_BYTES,
    ManagedSettings,
    checksum,
    js_json,
    settings_for,
    settings_problem,
)
from core.policy.schema import Policy
from tests.claude_checksum import node_checksum

POLICY = """
version: v1
targets: [{name: sonnet, base_url: "https://api.anthropic.com", model: claude-sonnet-4-5, tier: sonnet}]
default: {route: [sonnet]}
"""


def test_the_checksum_is_claude_codes_for_awkward_documents() -> None:
    rng = random.Random(7)
    numbers = [1.5, 2.0, 1e20, 1e-7, 1e-6, 0.00001, 1.5e17, -0.5, 5e-324, 1.7976931348623157e308, 0.1]
    numbers += [rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30) for _ in range(200)]
    document = {"x": numbers, "env": {"B": "1", "A": "é ✓ \U0001F600 \"quoted\" \\ \n"},
                "keys": {"b": 1, "a": 2, "10": 3, "9": 4, "é": 5, "Z": 6, "\U0001F600": 7, "\uff5e": 8, "-1": 9,
                         "01": 10, "4294967295": 11, "4294967294": 12}, "nested": [{"z": [], "a": {}}, None, True]}
    assert checksum(document) == node_checksum(document)


def test_js_json_has_no_whitespace_and_sorted_keys() -> None:
    assert js_json({"b": [1, 2.5], "a": {"d": None, "c": True}}) == '{"a":{"c":true,"d":null},"b":[1,2.5]}'


@pytest.mark.parametrize(("document", "words"), [
    ([], "must be a JSON object"),
    ("env", "must be a JSON object"),
    ({"a": {"__proto__": {}}}, "__proto__"),
    ({"a": -0.0}, "-0"),
    ({"a": float("nan")}, "finite"),
    ({"a": 2**60}, "exact integers"),
    ({"a": 1e21}, "exact integers"),
    ({"env": {"X": 1}}, "strings"),
    ({"env": ["X=1"]}, "object of environment variables"),
    ({"permissions": ["allow"]}, "permissions"),
    ({"a": "x" * MAX_DOCUMENT_BYTES}, "bytes as served"),
    ({"a": "nul\x00"}, "NUL"),
])
def test_what_claude_code_would_refuse_is_refused(document: object, words: str) -> None:
    problem = settings_problem(document)
    assert problem is not None and words in problem


def test_nesting_is_bounded() -> None:
    deep: dict[str, object] = {}
    cursor = deep
    for _ in range(40):
        cursor["a"] = {}
        cursor = cursor["a"]  # type: ignore[assignment]
    assert "nested" in (settings_problem(deep) or "")


def test_a_policy_with_a_bad_document_does_not_load() -> None:
    with pytest.raises(Exception) as raised:
        load_policy(POLICY + "managed_settings: {groups: [{group: eng, settings: {env: {X: 1}}}]}\n")
    assert "env" in str(raised.value)
    with pytest.raises(ValidationError):
        ManagedSettings.model_validate({"groups": [{"group": "", "settings": {}}]})


def test_first_matching_group_wins_over_the_default() -> None:
    managed = ManagedSettings.model_validate({"groups": [
        {"group": "eng", "settings": {"model": "opus", "env": {"A": "1"}}},
        {"group": "platform", "settings": {"model": "haiku"}}]})
    assert settings_for(managed, ("platform", "eng")) == (
        "group:eng", {"model": "opus", "env": {"CLAUDE_CODE_GATEWAY_HINT_HEADERS": "1", "A": "1"}})
    assert settings_for(managed, ("platform",)) == ("group:platform", {**DEFAULT_SETTINGS, "model": "haiku"})
    assert settings_for(managed, ()) == ("default", DEFAULT_SETTINGS)
    assert settings_for(ManagedSettings(default=None), ()) is None


def test_a_settings_change_is_a_policy_change_reviewers_see() -> None:
    old = load_policy(POLICY)
    new = Policy.model_validate({**old.model_dump(mode="json"), "version": "v2",
                                 "managed_settings": {"groups": [{"group": "eng", "settings": {"model": "opus"}}]}})
    changes = diff(old, new)
    assert not changes.is_empty
    assert "managed_settings" in render_diff(changes) and "opus" in render_diff(changes)
    assert old.managed_settings.default == DEFAULT_SETTINGS  # a policy without the block turns the hints on
