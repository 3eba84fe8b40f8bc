"""validate(): every kind of problem, found and located; compile_policy() refuses errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.policy.compile import compile_policy
from core.policy.problems import PolicyError, Problem
from core.policy.schema import Policy
from core.policy.validate import validate

from .builders import document

Doc = dict[str, Any]


def base() -> Doc:
    return document(
        rules=[
            {"name": "small", "when": {"input_tokens": {"lt": 20_000}}, "route": ["haiku", "sonnet-us"]},
            {"name": "ab", "when": {"thinking": True}, "split": [
                {"weight": 1, "route": ["sonnet-us"]}, {"weight": 1, "route": ["opus"]}]},
            {"name": "mid", "when": {"input_tokens": {"lt": 120_000}}, "route": ["sonnet-us", "opus"]},
        ],
        sticky=[{"name": "sonnet-regions", "targets": ["sonnet-us", "sonnet-eu"]}],
        budgets=[{"scope": "team", "name": "*", "monthly_usd": "500", "action": "downgrade",
                  "downgrade_to": "haiku"}],
    )


def rule(doc: Doc, index: int) -> dict[str, Any]:
    rules: list[dict[str, Any]] = doc["rules"]
    return rules[index]


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return change


def _append(section: str, item: dict[str, Any]) -> Callable[[Doc], None]:
    return lambda doc: doc.setdefault(section, []).append(item)


def _insert_rule(index: int, item: dict[str, Any]) -> Callable[[Doc], None]:
    return lambda doc: doc["rules"].insert(index, item)


def _both(*changes: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        for each in changes:
            each(doc)
    return change


CASES: list[tuple[str, Callable[[Doc], None], str, str, str]] = [
    # (case, change to the valid base, path, severity, words in the message)
    ("duplicate target", _append("targets", {"name": "opus", "base_url": "https://x"}), "targets[3].name", "error",
     "'opus' is defined 2 times"),
    ("duplicate rule", _append("rules", {"name": "small", "when": {"team": ["a"]}, "route": ["opus"]}),
     "rules[0].name", "error", "'small' is defined 2 times"),
    ("duplicate pool", _append("sticky", {"name": "sonnet-regions", "targets": ["haiku", "opus"]}),
     "sticky[0].name", "error", "defined 2 times"),
    ("unknown target in a route", _set("rules.0.route", ["haiku", "nope"]), "rules[0].route[1]", "error",
     "unknown target 'nope'"),
    ("unknown target in an arm", _set("rules.1.split.1.route", ["gone"]), "rules[1].split[1].route[0]", "error",
     "unknown target 'gone'"),
    ("unknown target in the default", _set("default.route", ["opus", "x"]), "default.route[1]", "error",
     "unknown target 'x'"),
    ("unknown target in a pool", _set("sticky.0.targets", ["sonnet-us", "sonnet-ap"]), "sticky[0].targets[1]",
     "error", "unknown target 'sonnet-ap'"),
    ("unknown downgrade target", _set("budgets.0.downgrade_to", "tiny"), "budgets[0].downgrade_to", "error",
     "unknown target 'tiny'"),
    ("empty route", _set("rules.0.route", []), "rules[0].route", "error", "empty chain"),
    ("target twice in a chain", _set("rules.2.route", ["opus", "sonnet-us", "opus"]), "rules[2].route[2]", "error",
     "appears twice"),
    ("inverted range", _set("rules.0.when.input_tokens", {"gte": 5_000, "lt": 5_000}), "rules[0].when.input_tokens",
     "error", "empty range"),
    ("negative bound", _set("rules.0.when.tool_count", {"gte": -1}), "rules[0].when.tool_count.gte", "error",
     "negative"),
    ("lt 0", _set("rules.0.when.input_tokens", {"lt": 0}), "rules[0].when.input_tokens.lt", "error",
     "matches nothing"),
    ("bucket above 100", _set("rules.0.when.session_bucket", {"lt": 101}), "rules[0].when.session_bucket.lt",
     "error", "outside 0..100"),
    ("bucket below 0", _set("rules.0.when.session_bucket", {"gte": -5, "lt": 2}),
     "rules[0].when.session_bucket.gte", "error", "negative"),
    ("route and split", _set("rules.1.route", ["opus"]), "rules[1]", "error", "exactly one of route or split"),
    ("neither route nor split", _set("rules.0.route", None), "rules[0]", "error", "exactly one of route or split"),
    ("empty split", _set("rules.1.split", []), "rules[1].split", "error", "weights sum to 0"),
    ("infinite weight", _set("rules.1.split.0.weight", float("inf")), "rules[1].split", "error", "finite"),
    ("reserved rule name", _set("rules.0.name", "default"), "rules[0].name", "error", "reserved"),
    ("catch-all rule above others", _insert_rule(0, {"name": "all", "route": ["opus"]}), "rules[1]", "error",
     "'small' is unreachable: rules[0] ('all')"),
    ("catch-all rule makes the default unreachable", _append("rules", {"name": "rest", "split": [
        {"weight": 9, "route": ["opus"]}, {"weight": 1, "route": ["haiku"]}]}), "default", "warning",
     "default is unreachable: rules[3] ('rest')"),
    ("full ranges are a catch-all too", _append("rules", {"name": "rest", "when": {
        "input_tokens": {"gte": 0}, "session_bucket": {"gte": 0, "lt": 100}}, "route": ["opus"]}), "default",
     "warning", "default is unreachable"),
    ("narrower rule below a wider one", _append("rules", {"name": "tiny", "when": {"input_tokens": {"lt": 4_000}},
                                                          "route": ["haiku"]}),
     "rules[3]", "error", "'tiny' is unreachable: rules[0] ('small')"),
    ("subset of a list below the list", _both(
        _insert_rule(0, {"name": "teams", "when": {"team": ["a", "b"]}, "route": ["opus"]}),
        _append("rules", {"name": "team-a", "when": {"team": ["a"]}, "route": ["haiku"]})),
     "rules[4]", "error", "'team-a' is unreachable: rules[0] ('teams')"),
    ("partly overlapping ranges", _insert_rule(1, {"name": "band", "when": {"input_tokens": {"gte": 10_000,
                                                                                                "lt": 50_000}},
                                                    "route": ["opus"]}),
     "rules[1].when.input_tokens", "warning", "overlaps rules[0] ('small') on [10000, 20000)"),
    ("empty list", _set("rules.0.when.team", []), "rules[0].when.team", "warning", "matches nothing"),
    ("hard at or below soft", _set("budgets.0.hard", 0.8), "budgets[0].hard", "error", "above soft"),
    ("downgrade without a target", _set("budgets.0.downgrade_to", None), "budgets[0].downgrade_to", "error",
     "needs downgrade_to"),
    ("downgrade target with block", _set("budgets.0.action", "block"), "budgets[0].downgrade_to", "warning",
     "ignored"),
    ("duplicate budget", _append("budgets", {"scope": "team", "name": "*", "monthly_usd": 10}), "budgets[1]",
     "error", "already defined at budgets[0]"),
    ("pool of different tiers", _set("sticky.0.targets", ["sonnet-us", "opus"]), "sticky[0].targets", "warning",
     "differ in tier"),
    ("target in two pools", _append("sticky", {"name": "other", "targets": ["sonnet-eu", "opus"]}),
     "sticky[1].targets[0]", "error", "already in sticky pool 'sonnet-regions'"),
    ("member twice in a pool", _set("sticky.0.targets", ["sonnet-us", "sonnet-eu", "sonnet-us"]),
     "sticky[0].targets[2]", "error", "twice"),
    ("non-error fallback status", _set("fallback", {"on_status": [429, 302]}), "fallback.on_status[1]", "error",
     "not an error status"),
    ("repeated fallback status", _set("fallback", {"on_status": [429, 429]}), "fallback.on_status", "warning",
     "more than once"),
]


def test_the_base_policy_is_clean() -> None:
    assert validate(Policy.model_validate(base())) == []


@pytest.mark.parametrize(("change", "path", "severity", "words"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_each_problem_is_found_where_it_is(change: Callable[[Doc], None], path: str, severity: str,
                                           words: str) -> None:
    doc = base()
    change(doc)
    problems = validate(Policy.model_validate(doc))
    assert any(p.path == path and p.severity == severity and words in p.message for p in problems), problems
    if severity == "error":
        with pytest.raises(PolicyError) as refused:
            compile_policy(Policy.model_validate(doc))
        assert any(p.path == path for p in refused.value.problems)
    else:
        assert compile_policy(Policy.model_validate(doc)).warnings


def test_every_problem_is_reported_at_once() -> None:
    doc = base()
    for _, change, *_ in CASES[:6]:
        change(doc)
    problems = validate(Policy.model_validate(doc))
    assert {p.path for p in problems} >= {case[2] for case in CASES[:6]}
    with pytest.raises(PolicyError) as refused:
        compile_policy(Policy.model_validate(doc))
    message = str(refused.value)
    assert all(str(p) in message for p in problems)


def test_a_problem_reads_as_one_line() -> None:
    assert str(Problem("rules[2].when.input_tokens", "empty range")) == "error: rules[2].when.input_tokens: empty range"


@pytest.mark.parametrize("rules", [
    # a narrower rule above a wider one is the usual order
    [{"name": "a", "when": {"team": ["x"], "thinking": True}, "route": ["opus"]},
     {"name": "b", "when": {"team": ["x"]}, "route": ["haiku"]}],
    # a rule on a fact is no superset of one that leaves it open (a missing fact matches neither list)
    [{"name": "a", "when": {"requested_tier": ["haiku", "sonnet", "opus"]}, "route": ["opus"]},
     {"name": "b", "when": {"thinking": True}, "route": ["haiku"]}],
    # the cascade: < 20k, then < 120k
    [{"name": "a", "when": {"input_tokens": {"lt": 20_000}}, "route": ["haiku"]},
     {"name": "b", "when": {"input_tokens": {"lt": 120_000}}, "route": ["sonnet-us"]}],
    # adjacent bands do not overlap (lt is exclusive)
    [{"name": "a", "when": {"input_tokens": {"gte": 0, "lt": 20_000}}, "route": ["haiku"]},
     {"name": "b", "when": {"input_tokens": {"gte": 20_000, "lt": 50_000}}, "route": ["sonnet-us"]}],
    # overlapping ranges on different other predicates are deliberate
    [{"name": "a", "when": {"input_tokens": {"lt": 20_000}, "team": ["x"]}, "route": ["haiku"]},
     {"name": "b", "when": {"input_tokens": {"gte": 10_000, "lt": 50_000}}, "route": ["sonnet-us"]}],
], ids=["narrow-above-wide", "missing-fact", "cascade", "adjacent-bands", "different-predicates"])
def test_sound_rule_orders_raise_nothing(rules: list[dict[str, Any]]) -> None:
    assert validate(Policy.model_validate(document(rules))) == []
