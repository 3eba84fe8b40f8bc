"""Groups in the policy document: budget periods and their validation errors, per-group model
allowlists (which entries apply, what they allow), the ``group`` predicate in decide() and the
shadowing check, and the usage-limit headers computed from a verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import yaml

from core.policy.access import check_model
from core.policy.budgets import budget_verdict
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.load import load_policy
from core.policy.problems import PolicyError
from core.policy.usage_limits import cap_refusal, usage_headers
from core.policy.validate import validate

from .builders import compiled, document, policy


def _load(**extra: Any) -> None:
    load_policy(yaml.safe_dump(document(**extra)))


@pytest.mark.parametrize(("budget", "path", "words"), [
    ({"scope": "team", "name": "x"}, "budgets[0]", "a budget needs a limit: limit_usd with period day, week or month"),
    ({"scope": "team", "name": "x", "monthly_usd": 5, "limit_usd": 5}, "budgets[0]", "not both"),
    ({"scope": "team", "name": "x", "monthly_usd": 5, "period": "day"}, "budgets[0]",
     "monthly_usd is a monthly limit, but period is day: write limit_usd for a daily limit"),
    ({"scope": "team", "name": "x", "limit_usd": 5, "period": "fortnight"}, "budgets[0].period",
     "'day', 'week' or 'month'"),
    ({"scope": "team", "name": "x", "limit_usd": 0, "period": "week"}, "budgets[0].limit_usd", "greater than 0"),
    ({"scope": "org", "name": "x", "limit_usd": 5}, "budgets[0].scope", "'developer', 'team', 'repo' or 'group'"),
])
def test_budget_shape_errors_say_what_to_write(budget: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(PolicyError) as refused:
        _load(budgets=[budget])
    assert [p.path for p in refused.value.problems] == [path]
    assert words in str(refused.value)


def test_one_budget_per_principal_and_period() -> None:
    problems = validate(policy(budgets=[
        {"scope": "group", "name": "eng", "period": "day", "limit_usd": 5},
        {"scope": "group", "name": "eng", "period": "week", "limit_usd": 20},
        {"scope": "group", "name": "eng", "limit_usd": 50},
        {"scope": "group", "name": "eng", "monthly_usd": 60}]))
    assert [(p.path, p.message) for p in problems] == [
        ("budgets[3]", "monthly budget for group 'eng' is already defined at budgets[2] "
                       "(one budget per principal and period)")]


def test_monthly_usd_and_limit_usd_with_period_month_are_the_same_budget() -> None:
    old = compiled(budgets=[{"scope": "team", "name": "*", "monthly_usd": "10", "hard": 1.0}])
    new = compiled(budgets=[{"scope": "team", "name": "*", "period": "month", "limit_usd": "10", "hard": 1.0}])
    now = datetime(2026, 11, 18, tzinfo=UTC)
    spend = {("2026-11", "team", "web"): Decimal(10)}
    for table in (old, new):
        verdict = budget_verdict(table, RouteFacts(team="web"), spend, now)
        assert (verdict.state, verdict.limit, verdict.resets_at) == ("hard", Decimal(10), datetime(2026, 12, 1,
                                                                                                     tzinfo=UTC))


@pytest.mark.parametrize(("entries", "path", "words"), [
    ([{"group": "a", "models": ["haiku"]}, {"group": "a", "models": ["opus"]}], "model_access[1].group",
     "already has an allowlist"),
    ([{"group": "a", "models": ["haiku"], "on_denied": "downgrade"}], "model_access[0].downgrade_to",
     "needs downgrade_to"),
    ([{"group": "a", "models": ["haiku"], "on_denied": "downgrade", "downgrade_to": "nowhere"}],
     "model_access[0].downgrade_to", "unknown target 'nowhere'"),
    ([{"group": "a", "models": [" "]}], "model_access[0].models[0]", "allows nothing"),
])
def test_model_access_errors(entries: list[dict[str, Any]], path: str, words: str) -> None:
    errors = [p for p in validate(policy(model_access=entries)) if p.severity == "error"]
    assert [p.path for p in errors] == [path] and words in errors[0].message


def test_a_downgrade_target_must_name_its_model() -> None:
    document_ = document(model_access=[{"group": "a", "models": ["haiku"], "on_denied": "downgrade",
                                        "downgrade_to": "keeps"}])
    document_["targets"].append({"name": "keeps", "base_url": "https://api.anthropic.com"})
    errors = [p for p in validate(load_policy(yaml.safe_dump(document_))) if p.severity == "error"]
    assert [p.path for p in errors] == ["model_access[0].downgrade_to"]
    assert "keeps the requested model" in errors[0].message


ACCESS = compiled(model_access=[
    {"group": "contractors", "models": ["haiku", "claude-sonnet-4-5"]},
    {"group": "staff", "models": ["sonnet", "opus"]},
    {"group": "interns", "models": ["haiku"], "on_denied": "downgrade", "downgrade_to": "haiku"},
]).access


@pytest.mark.parametrize(("groups", "model", "tier", "allowed"), [
    (("contractors",), "claude-haiku-4-5", "haiku", True),  # by tier
    (("contractors",), "claude-sonnet-4-5", "sonnet", True),  # by exact id
    (("contractors",), "claude-sonnet-4-6", "sonnet", False),  # another sonnet id is not listed
    (("contractors", "staff"), "claude-opus-4-5", "opus", True),  # any of the caller's entries
    (("eng",), "claude-opus-4-5", "opus", True),  # no entry applies, no "*": anything
    ((), "claude-opus-4-5", "opus", True),
    (("contractors",), "claude-opus-4-5", None, False),  # an unpriced model only by id
])
def test_which_entries_apply_and_what_they_allow(groups: tuple[str, ...], model: str, tier: str | None,
                                                 allowed: bool) -> None:
    assert (check_model(ACCESS, groups, model, tier) is None) is allowed


def test_a_denial_names_the_allowlist_and_the_downgrade() -> None:
    denial = check_model(ACCESS, ("interns", "contractors"), "claude-opus-4-5", "opus")
    assert denial is not None and denial.downgrade_to is not None and denial.downgrade_to.name == "haiku"
    assert denial.message.startswith("model 'claude-opus-4-5' is not in the model allowlist of groups interns, "
                                     "contractors (model_access: haiku, claude-sonnet-4-5)")
    everyone = compiled(model_access=[{"group": "*", "models": ["haiku"]}]).access
    denied = check_model(everyone, (), "claude-opus-4-5", "opus")
    assert denied is not None and "callers outside the listed groups" in denied.message
    assert check_model(everyone, ("x",), "claude-haiku-4-5", "haiku") is None


def test_the_group_predicate_in_decide_and_in_the_shadowing_check() -> None:
    rules = [{"name": "sre-only", "when": {"group": ["sre"]}, "route": ["sonnet-us"]},
             {"name": "eng", "when": {"group": ["eng", "sre"]}, "route": ["haiku"]}]
    table = compiled(rules)
    assert decide(table, RouteFacts(groups=("web", "sre"))).rule == "sre-only"
    assert decide(table, RouteFacts(groups=("eng",))).rule == "eng"
    assert decide(table, RouteFacts(groups=("web",))).rule == "default"
    assert decide(table, RouteFacts()).rule == "default"  # no groups (a virtual key): never matches
    # the other way round, every caller in sre is in eng-or-sre first: the narrower rule is dead
    problems = [p for p in validate(policy(list(reversed(rules)))) if p.severity == "error"]
    assert [p.path for p in problems] == ["rules[1]"] and "unreachable" in problems[0].message


def test_usage_headers_and_the_cap_from_a_verdict() -> None:
    table = compiled(budgets=[{"scope": "group", "name": "eng", "period": "day", "limit_usd": "10", "hard": 1.0}])
    now = datetime(2026, 11, 18, 18, 30, tzinfo=UTC)
    facts = RouteFacts(developer="a", groups=("eng",))
    warned = usage_headers(budget_verdict(table, facts, {("2026-11-18", "group", "eng"): Decimal("9.51")}, now))
    assert dict(warned)[b"anthropic-ratelimit-unified-overage-surpassed-threshold"] == b"0.95"
    assert dict(warned)[b"anthropic-ratelimit-unified-reset"] == str(int(datetime(2026, 11, 19, tzinfo=UTC)
                                                                         .timestamp())).encode()
    at_cap = budget_verdict(table, facts, {("2026-11-18", "group", "eng"): Decimal(10)}, now)
    refusal = cap_refusal(at_cap, now)
    assert dict(refusal.headers)[b"retry-after"] == str(5 * 3600 + 30 * 60).encode()
    assert refusal.message == ("Group eng's pooled daily spend limit of $10.00 is reached ($10.00 spent); it resets "
                               "Thu 19 Nov 00:00 UTC, so wait until then or ask an admin to raise it.")


def test_past_several_hard_limits_the_turn_is_told_about_the_block_that_resets_last() -> None:
    table = compiled(budgets=[
        {"scope": "developer", "name": "*", "period": "day", "limit_usd": "1", "hard": 1.0},
        {"scope": "developer", "name": "*", "period": "week", "limit_usd": "5", "hard": 1.0},
        {"scope": "team", "name": "*", "monthly_usd": "1", "hard": 1.0, "action": "downgrade",
         "downgrade_to": "haiku"}])
    now = datetime(2026, 11, 18, 12, tzinfo=UTC)
    facts = RouteFacts(developer="a", team="t")
    spend = {("2026-11-18", "developer", "a"): Decimal(5), ("2026-W47", "developer", "a"): Decimal(5),
             ("2026-11", "team", "t"): Decimal(9)}
    verdict = budget_verdict(table, facts, spend, now)
    # the week's block, not the day's (a retry at midnight would be refused again), nor the
    # month's downgrade (it would let the turn through)
    assert (verdict.budget.cadence if verdict.budget else None, verdict.action) == ("week", "block")
    assert verdict.resets_at == datetime(2026, 11, 23, tzinfo=UTC)


def test_a_changed_allowlist_is_in_the_diff_reviewers_approve() -> None:
    from core.policy.diff import PolicyDiff, diff, render_diff

    old = policy(model_access=[{"group": "contractors", "models": ["haiku"]}])
    new = policy(model_access=[{"group": "contractors", "models": ["haiku", "sonnet"]},
                               {"group": "interns", "models": ["haiku"]}])
    changes = diff(old, new)
    assert not changes.is_empty
    text = render_diff(changes)
    assert "+ model allowlist of group interns" in text
    assert '~ model allowlist of group contractors: models ["haiku"] → ["haiku", "sonnet"]' in text
    assert PolicyDiff.from_dict(changes.to_dict()) == changes
    stored_before = {k: v for k, v in changes.to_dict().items() if k != "model_access"}
    assert not PolicyDiff.from_dict(stored_before).model_access  # diffs stored before it existed still load
