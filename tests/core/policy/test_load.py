"""load_policy()/dump_policy(): YAML or JSON in, located problems out, and a stable round trip."""

from __future__ import annotations

import json

import pytest
import yaml

from core.policy.load import dump_policy, load_policy
from core.policy.problems import PolicyError

from .builders import TIERED_RULES, document, policy

VALID = """
version: v1
targets:
  - {name: sonnet, base_url: "https://api.anthropic.com", tier: sonnet}
  - {name: haiku, base_url: "https://api.anthropic.com", tier: haiku}
rules:
  - name: small
    when: {input_tokens: {lt: 20000}}
    route: [haiku, sonnet]
default: {route: [sonnet]}
budgets:
  - {scope: team, name: payments, monthly_usd: 250.50}
"""


def test_yaml_and_json_load_to_the_same_policy() -> None:
    from_yaml = load_policy(VALID)
    from_json = load_policy(json.dumps(yaml.safe_load(VALID)))
    assert from_yaml == from_json
    assert from_yaml.rules[0].when.input_tokens is not None and from_yaml.rules[0].when.input_tokens.lt == 20000
    assert str(from_yaml.budgets[0].monthly_usd) == "250.5"


@pytest.mark.parametrize(("text", "locations"), [
    (VALID.replace("lt: 20000", "lt: many"), ["rules[0].when.input_tokens.lt"]),
    (VALID.replace("lt: 20000", "lte: 20000"), ["rules[0].when.input_tokens.lte"]),
    (VALID.replace("version: v1", "version: 1.0"), ["version"]),
    (VALID.replace("tier: haiku", "tier: small"), ["targets[1].tier"]),
    (VALID.replace('"https://api.anthropic.com", tier: sonnet', '"api.anthropic.com", tier: sonnet'),
     ["targets[0].base_url"]),
    (VALID.replace("route: [sonnet]", "route: []"), ["default.route"]),
    (VALID.replace("scope: team", "scope: org").replace("lt: 20000", "lt: x"),
     ["rules[0].when.input_tokens.lt", "budgets[0].scope"]),  # all problems at once
    (VALID.replace("default: {route: [sonnet]}", ""), ["default"]),
    (VALID + "colour: blue\n", ["colour"]),
    (VALID.replace("name: small", "name: small turns"), ["rules[0].name"]),
    (VALID + "  - {scope: team, name: x, monthly_usd: 0}\n", ["budgets[1].monthly_usd"]),
    (VALID.replace("route: [haiku, sonnet]", "route: [haiku, sonnet]\n    pinned: sometimes"), ["rules[0].pinned"]),
])
def test_schema_problems_name_their_location(text: str, locations: list[str]) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy(text)
    assert sorted(p.path for p in refused.value.problems) == sorted(locations)
    for location in locations:
        assert location in str(refused.value)


@pytest.mark.parametrize(("text", "where", "words"), [
    ("version: v1\ntargets: [\n", "line 3, column 1", "invalid YAML"),
    ("version: v1\nversion: v2\n", "line 2, column 1", "duplicate key 'version' (first at line 1)"),
    ('{"version": "v1",\n "targets": [}', "line 2, column 14", "invalid JSON"),
    ("- just\n- a list\n", "(document)", "expected a mapping"),
    ("", "(document)", "expected a mapping"),
])
def test_text_problems_name_line_and_column(text: str, where: str, words: str) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy(text)
    (problem,) = refused.value.problems
    assert problem.path == where and words in problem.message


def test_a_yaml_flow_mapping_is_not_mistaken_for_json() -> None:
    flow = "{version: v1, targets: [{name: a, base_url: 'https://x'}], default: {route: [a]}}"
    assert load_policy(flow).version == "v1"


def test_a_yaml_number_where_a_string_belongs_gets_a_hint() -> None:
    with pytest.raises(PolicyError, match="quote it"):
        load_policy(VALID.replace("version: v1", "version: 2"))


@pytest.mark.parametrize("include_defaults", [False, True])
def test_dump_round_trips(include_defaults: bool) -> None:
    original = policy(TIERED_RULES, sticky=[{"name": "regions", "targets": ["sonnet-us", "sonnet-eu"]}],
                      budgets=[{"scope": "developer", "name": "*", "monthly_usd": "123.456789012345678901"},
                               {"scope": "team", "name": "x", "monthly_usd": "0.05", "soft": 0.5, "hard": 1.0}])
    text = dump_policy(original, include_defaults=include_defaults)
    assert load_policy(text) == original
    assert dump_policy(load_policy(text), include_defaults=include_defaults) == text


def test_dump_is_readable_and_in_schema_order() -> None:
    text = dump_policy(policy([{"name": "small", "when": {"input_tokens": {"gte": 1, "lt": 20000}},
                                "route": ["haiku", "sonnet-us"]}]))
    assert text.startswith("version: test\ntargets:\n")
    assert "input_tokens: {gte: 1, lt: 20000}" in text
    assert "route: [haiku, sonnet-us]" in text
    assert text.index("rules:") < text.index("default:")
    assert "null" not in text  # defaults are left out


def test_dump_keeps_every_field_when_asked() -> None:
    text = dump_policy(policy(), include_defaults=True)
    assert "on_status: [429, 500, 502, 503, 504, 529]" in text and "max_hops: 3" in text


def test_loading_is_not_validation() -> None:
    # a well-formed policy with a dangling reference loads; validate()/compile_policy() report it
    doc = document([{"name": "r", "route": ["nowhere"]}])
    assert load_policy(json.dumps(doc)).rules[0].route == ("nowhere",)


def test_a_pinned_rule_round_trips_and_unpinned_ones_do_not_say_so() -> None:
    pinned = load_policy(VALID.replace("route: [haiku, sonnet]", "route: [haiku, sonnet]\n    pinned: true"))
    assert pinned.rules[0].pinned is True and load_policy(VALID).rules[0].pinned is None
    assert "pinned: true" in dump_policy(pinned) and "pinned" not in dump_policy(load_policy(VALID))
    assert load_policy(dump_policy(pinned)) == pinned
