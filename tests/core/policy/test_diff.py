"""diff()/render_diff(): structured, JSON-serialisable changes between two versions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.policy.diff import PolicyDiff, diff, render_diff
from core.policy.schema import Policy

from .builders import TIERED_RULES, document

BASE = document(
    TIERED_RULES,
    sticky=[{"name": "regions", "targets": ["sonnet-us", "sonnet-eu"]}],
    budgets=[{"scope": "team", "name": "*", "monthly_usd": "500"}],
)


def changed(**edits: Any) -> Policy:
    doc = json.loads(json.dumps(BASE))
    doc["version"] = "test-2"
    for key, edit in edits.items():
        edit(doc) if callable(edit) else doc.__setitem__(key, edit)
    return Policy.model_validate(doc)


OLD = Policy.model_validate(BASE)


def test_a_policy_has_no_diff_with_itself() -> None:
    d = diff(OLD, OLD)
    assert d.is_empty
    assert render_diff(d) == "policy test → test\n  (no changes)"
    assert diff(OLD, changed()).is_empty  # a new version number alone is no change


def _rule(index: int, **fields: Any) -> Any:
    return lambda doc: doc["rules"][index].update(fields)


@pytest.mark.parametrize(("edit", "line"), [
    ({"rules": _rule(7, when={"input_tokens": {"lt": 12000}})},
     "~ rule small: when.input_tokens.lt 20000 → 12000"),
    ({"rules": _rule(8, route=["opus", "sonnet-us"])},
     '~ rule mid: route ["sonnet-us", "opus"] → ["opus", "sonnet-us"]'),
    ({"rules": _rule(6, model=None)}, "~ rule big-thinking: model claude-opus-4-1-thinking → (unset)"),
    ({"rules": lambda doc: doc["rules"].pop(4)}, "- rule many-tools"),
    ({"rules": lambda doc: doc["rules"].insert(0, {"name": "new", "when": {"team": ["x"]}, "route": ["opus"]})},
     "+ rule new"),
    ({"rules": lambda doc: doc["rules"].insert(8, doc["rules"].pop(0))}, "↕ rule compaction: position 0 → 8"),
    ({"targets": lambda doc: doc["targets"].append({"name": "opus-eu", "base_url": "https://eu.example.com"})},
     "+ target opus-eu"),
    ({"targets": lambda doc: doc["targets"][3].update(model="claude-opus-5")},
     "~ target opus: model claude-opus-4-1 → claude-opus-5"),
    ({"default": {"route": ["sonnet-us"]}}, "~ default: route [\"opus\"] → [\"sonnet-us\"]"),
    ({"fallback": {"max_hops": 2}}, "~ fallback: max_hops 3 → 2"),
    ({"sticky": []}, "- sticky pool regions"),
    ({"budgets": lambda doc: doc["budgets"][0].update(monthly_usd="750")},
     "~ budget team:*: monthly_usd 500 → 750"),
    ({"description": "cheaper"}, '~ description "" → cheaper'),
])
def test_a_change_shows_up(edit: dict[str, Any], line: str) -> None:
    new = changed(**edit)
    d = diff(OLD, new)
    assert not d.is_empty
    assert line in render_diff(d).splitlines(), render_diff(d)


def test_inserting_a_rule_moves_none_of_the_others() -> None:
    new = changed(rules=lambda doc: doc["rules"].insert(0, {"name": "new", "when": {"team": ["x"]},
                                                            "route": ["opus"]}))
    assert diff(OLD, new).rules.moved == ()


def test_split_arms_are_compared_arm_by_arm() -> None:
    with_split = changed(rules=_rule(8, route=None, split=[{"weight": 9, "route": ["sonnet-us"]},
                                                            {"weight": 1, "route": ["opus"]}]))
    reweighted = Policy.model_validate({**with_split.model_dump(mode="json"), "version": "test-3", "rules": [
        *with_split.model_dump(mode="json")["rules"][:8],
        {"name": "mid", "when": {"input_tokens": {"lt": 120000}},
         "split": [{"weight": 8, "route": ["sonnet-us"]}, {"weight": 2, "route": ["opus"]}]}]})
    (change,) = diff(with_split, reweighted).rules.changed
    assert [(c.path, c.before, c.after) for c in change.changes] == [
        ("split[0].weight", 9.0, 8.0), ("split[1].weight", 1.0, 2.0)]


def test_the_diff_is_json_and_reads_back() -> None:
    new = changed(rules=_rule(7, when={"input_tokens": {"lt": 12000}}), default={"route": ["sonnet-us"]},
                  budgets=[], targets=lambda doc: doc["targets"].append({"name": "x", "base_url": "https://x"}))
    d = diff(OLD, new)
    data = json.loads(json.dumps(d.to_dict()))
    assert PolicyDiff.from_dict(data) == d
    assert data["rules"]["changed"] == [{"name": "small", "changes": [
        {"path": "when.input_tokens.lt", "before": 20000, "after": 12000}]}]
    assert data["budgets"]["removed"][0]["monthly_usd"] == "500"
