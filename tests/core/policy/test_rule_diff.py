"""rule_diff(): every touched rule in full before and after, added and removed rules with their
conditions, moves, the default; only fields that differ reported as changes; the YAML of both
sides loads back to the rules; conditions and actions in words."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from core.policy.diff import FieldChange
from core.policy.rule_diff import change_words, render_rule_diff, rule_diff, rule_yaml
from core.policy.schema import Policy, Rule
from core.policy.words import action_words, condition, when_words

from .builders import TIERED_RULES, document

OLD = Policy.model_validate(document(TIERED_RULES))


def edited(edit: Any) -> Policy:
    doc = document(copy.deepcopy(TIERED_RULES))
    doc["version"] = "test-2"
    edit(doc)
    return Policy.model_validate(doc)


def _lines(new: Policy, old: Policy = OLD) -> list[str]:
    return render_rule_diff(rule_diff(old, new)).splitlines()


def test_a_changed_threshold_shows_the_whole_rule_before_and_after() -> None:
    new = edited(lambda doc: doc["rules"][7].update(when={"input_tokens": {"lt": 12000}}))
    lines = _lines(new)
    at = lines.index("~ rule small (changed, position 8 of 9)")
    assert lines[at + 1:at + 4] == [
        "    before: when estimated input tokens < 20,000 → route haiku, then sonnet-us",
        "    after:  when estimated input tokens < 12,000 → route haiku, then sonnet-us",
        "    changed: estimated input tokens below 20,000 → 12,000"]
    (entry,) = rule_diff(OLD, new).reported
    assert entry.kind == "changed" and entry.before is not None and entry.after is not None
    assert entry.before.rule == OLD.rules[7] and entry.after.rule == new.rules[7]


def test_an_unchanged_threshold_is_not_reported_as_a_change() -> None:
    ranged = edited(lambda doc: doc["rules"][8].update(when={"input_tokens": {"gte": 20000, "lt": 120000}}))
    wider = Policy.model_validate({**ranged.model_dump(mode="json"), "version": "test-3"}
                                  | {"rules": [*ranged.model_dump(mode="json")["rules"][:8],
                                               {"name": "mid", "when": {"input_tokens": {"gte": 20000, "lt": 150000}},
                                                "route": ["sonnet-us", "opus"]}]})
    rd = rule_diff(ranged, wider)
    (entry,) = rd.reported
    assert [(c.path, c.before, c.after) for c in entry.changes] == [("when.input_tokens.lt", 120000, 150000)]
    changed_line = next(line for line in render_rule_diff(rd).splitlines() if line.startswith("    changed:"))
    assert changed_line == "    changed: estimated input tokens below 120,000 → 150,000"
    assert "from" not in changed_line and "≥" not in changed_line
    # the unchanged lower bound is still in the full rule, before and after
    assert "    after:  when estimated input tokens ≥ 20,000 and < 150,000 → route sonnet-us, then opus" in \
        render_rule_diff(rd).splitlines()
    # a rule, the default or a threshold left as it was: nothing reported at all
    same = rule_diff(OLD, edited(lambda doc: None))
    assert same.reported == () and same.is_empty
    assert render_rule_diff(same).splitlines()[-2:] == ["= default (no rule matches): route opus (unchanged)",
                                                         "  (no changes)"]


def test_added_and_removed_rules_come_with_their_conditions() -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["rules"].insert(0, {"name": "think", "when": {"thinking": True, "input_tokens": {"gte": 5000}},
                                "route": ["opus"], "model": "claude-opus-4-1-thinking"})
        doc["rules"].pop(5)  # many-tools (index 4 before the insert)

    lines = _lines(edited(edit))
    assert lines[lines.index("+ rule think (added, position 1 of 9)") + 1] == (
        "    when estimated input tokens ≥ 5,000 and thinking on → route opus; model claude-opus-4-1-thinking")
    assert lines[lines.index("- rule many-tools (removed, was position 5 of 9)") + 1] == (
        "    when tools offered ≥ 30 → route opus")
    kinds = {r.name: r.kind for r in rule_diff(OLD, edited(edit)).rules}
    assert kinds["think"] == "added" and kinds["many-tools"] == "removed"
    # inserting one rule and removing another shifts positions without moving anything
    assert {name for name, kind in kinds.items() if kind == "moved"} == set()
    assert any(line.startswith("= unchanged: ") and "compaction (position 1 → 2 of 9)" in line for line in lines)


def test_a_moved_rule_is_reported_with_both_positions() -> None:
    new = edited(lambda doc: doc["rules"].insert(8, doc["rules"].pop(0)))
    rd = rule_diff(OLD, new)
    (entry,) = rd.reported
    assert (entry.name, entry.kind, entry.moved) == ("compaction", "moved", True)
    lines = render_rule_diff(rd).splitlines()
    assert lines[lines.index("↕ rule compaction (moved, position 1 → 9 of 9)") + 1] == (
        "    when request class is compaction → route haiku, then sonnet-us")


def test_the_default_and_the_rest_of_the_change() -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["default"] = {"route": ["sonnet-us", "opus"]}
        doc["fallback"] = {"max_hops": 2}
        doc["targets"][0]["model"] = "claude-haiku-5"

    lines = _lines(edited(edit))
    at = lines.index("~ default (no rule matches)")
    assert lines[at + 1:at + 4] == ["    before: route opus", "    after:  route sonnet-us, then opus",
                                    "    changed: route: opus → sonnet-us, then opus"]
    assert lines[lines.index("other changes:") + 1:] == [
        "~ target haiku: model claude-haiku-4-5 → claude-haiku-5", "~ fallback: max_hops 3 → 2"]


def test_the_yaml_of_both_sides_loads_back_to_the_touched_rules() -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["rules"][7]["when"] = {"input_tokens": {"lt": 12000}}
        doc["rules"].insert(0, {"name": "think", "when": {"thinking": True}, "route": ["opus"]})
        doc["rules"].pop(2)  # security-repo
        doc["default"] = {"route": ["sonnet-us"]}

    new = edited(edit)
    before, after = rule_yaml(rule_diff(OLD, new))
    old_side, new_side = yaml.safe_load(before), yaml.safe_load(after)
    assert [Rule.model_validate(r) for r in old_side["rules"]] == [OLD.rules[1], OLD.rules[7]]
    assert [Rule.model_validate(r) for r in new_side["rules"]] == [new.rules[0], new.rules[7]]
    assert (old_side["default"], new_side["default"]) == ({"route": ["opus"]}, {"route": ["sonnet-us"]})
    assert "# removed, position 2 of 9\n- name: security-repo" in before
    assert "# changed, position 8 of 9\n- name: small" in after
    assert "input_tokens: {lt: 12000}" in after
    nothing = rule_yaml(rule_diff(OLD, OLD))
    assert [yaml.safe_load(side) for side in nothing] == [{"rules": []}, {"rules": []}]


@pytest.mark.parametrize(("change", "words"), [
    (FieldChange("when.input_tokens.lt", 20000, 12000), "estimated input tokens below 20,000 → 12,000"),
    (FieldChange("when.input_tokens.gte", None, 8000), "estimated input tokens from no limit → 8,000"),
    (FieldChange("when.thinking", None, True), "thinking: any → on"),
    (FieldChange("when.repo", ["a"], ["a", "b"]), "repo: a → one of a, b"),
    (FieldChange("when.tool_count", None, {"gte": 20, "lt": None}), "tools offered: any → ≥ 20"),
    (FieldChange("route", ["haiku", "opus"], ["opus"]), "route: haiku, then opus → opus"),
    (FieldChange("model", None, "claude-x"), "model: the target’s → claude-x"),
    (FieldChange("split[1].weight", 1.0, 2.0), "split arm 2 weight 1 → 2"),
    (FieldChange("split[0].route", ["a"], ["b"]), "split arm 1 route: a → b"),
])
def test_a_changed_field_in_words(change: FieldChange, words: str) -> None:
    assert change_words(change) == words


@pytest.mark.parametrize(("name", "value", "words"), [
    ("input_tokens", {"gte": 8000, "lt": 20000}, "estimated input tokens ≥ 8,000 and < 20,000"),
    ("session_bucket", {"gte": None, "lt": 5}, "session bucket < 5"),
    ("requested_tier", ["opus"], "requested tier is opus"),
    ("team", ["a", "b"], "team is one of a, b"),
    ("thinking", False, "thinking off"),
])
def test_a_condition_in_words(name: str, value: Any, words: str) -> None:
    assert condition(name, value) == words


def test_an_empty_match_and_a_split_in_words() -> None:
    assert when_words({"input_tokens": None}) == "every request (no condition)"
    assert action_words({"split": [{"weight": 3, "route": ["haiku"]},
                                   {"weight": 1, "route": ["opus", "sonnet-us"], "model": "x"}]}) == (
        "split 75% to haiku; 25% to opus, then sonnet-us (model x)")
