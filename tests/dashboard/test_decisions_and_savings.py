"""Pure parts: a turn's decision in words, savings against the top tier, budget states, a proposal's
evidence in one line."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest

from core.policy.schema import Budget
from core.pricing import builtin_price_table
from dashboard.budget_states import budget_lines, state_of
from dashboard.decision import explain_decision, grouped, hop_trail
from dashboard.savings import savings_by_day, total_savings
from dashboard.views.proposals import summary_row
from store.proposals import Proposal

PRICES = builtin_price_table()


def test_a_decision_reads_as_one_sentence() -> None:
    turn = {"rule": "small-turns", "estimated_input_tokens": 14_203, "served_model": "claude-haiku-4-5",
            "target": "secondary", "fallback_hops": ["primary:529", "secondary:200"], "policy_version": "v7",
            "ok": True}
    assert explain_decision(turn, PRICES) == (
        "rule small-turns fired (policy v7 is not stored, so its conditions are unknown) → haiku; "
        "primary 529 → secondary (policy v7)")


def test_a_decision_without_fallback_or_estimate_still_says_where_the_turn_went() -> None:
    turn = {"rule": None, "served_model": "some-unknown-model", "target": "eu", "fallback_hops": [], "ok": False,
            "error_type": "overloaded_error", "policy_version": None}
    assert explain_decision(turn, PRICES) == (
        "no routing rule recorded → target eu; served by eu, no fallback; failed: overloaded_error")


@pytest.mark.parametrize(("hops", "trail"), [
    (["primary:529", "secondary:200"], "primary 529 → secondary"),
    (["a:timeout", "b:connect", "c:200"], "a timeout → b connect → c"),
    (["a:529", "b:529"], "a 529 → b 529"),  # every target failed: the last one's status shows too
    (["a"], "a"),
])
def test_hop_trails(hops: list[str], trail: str) -> None:
    assert hop_trail(hops) == trail


def test_grouped_numbers() -> None:
    assert [grouped(n) for n in (0, 999, 14_203, 1_234_567)] == ["0", "999", "14 203", "1 234 567"]


def _usage(rows: list[tuple[datetime, str, int, int, int, int, Decimal]]) -> pl.DataFrame:
    return pl.DataFrame(rows, orient="row", schema={
        "hour": pl.Datetime("us"), "model": pl.String(), "input_tokens": pl.Int64(), "output_tokens": pl.Int64(),
        "cache_write_tokens": pl.Int64(), "cache_read_tokens": pl.Int64(), "cost_usd": pl.Decimal(38, 9)})


def test_savings_price_the_same_tokens_on_the_baseline_model_exactly() -> None:
    # one million input tokens on sonnet 4.5 ($3/M) against opus 4.5 ($5/M): $2 saved
    usage = _usage([(datetime(2026, 1, 5, 10), "claude-sonnet-4-5", 1_000_000, 0, 0, 0, Decimal("3")),
                    (datetime(2026, 1, 5, 11), "claude-sonnet-4-5", 0, 100_000, 0, 0, Decimal("1.5")),
                    (datetime(2026, 1, 6, 9), "not-a-priced-model", 5_000_000, 0, 0, 0, Decimal("0"))])
    frame = savings_by_day(usage, PRICES, "claude-opus-4-5")
    assert frame["day"].to_list() == [date(2026, 1, 5)]  # the unpriced model's day claims nothing
    assert frame.row(0) == (date(2026, 1, 5), Decimal("4.5"), Decimal("7.5"))
    assert total_savings(frame) == (Decimal("3"), Decimal("7.5"))


def test_savings_of_no_usage_are_empty() -> None:
    frame = savings_by_day(_usage([]), PRICES, "claude-opus-4-5")
    assert frame.is_empty() and total_savings(frame) == (Decimal(0), Decimal(0))


def test_budget_states_follow_the_policy_thresholds() -> None:
    budget = Budget(scope="developer", name="*", monthly_usd=Decimal("100"), soft=0.8, hard=1.1)
    assert [state_of(Decimal(v), budget) for v in ("79.99", "80", "109.99", "110")] == ["ok", "soft", "soft", "hard"]
    assert state_of(Decimal("1e6"), None) == "no budget"


def test_a_principals_own_budget_replaces_the_star_budget_and_budgeted_idle_principals_show() -> None:
    spend = pl.DataFrame([("developer", "alice", Decimal("60")), ("developer", "bob", Decimal("60")),
                          ("team", "core", Decimal("1"))], orient="row",
                         schema={"scope": pl.String(), "name": pl.String(), "usd": pl.Decimal(38, 9)})
    budgets = (Budget(scope="developer", name="*", monthly_usd=Decimal("50")),
               Budget(scope="developer", name="alice", monthly_usd=Decimal("500")),
               Budget(scope="repo", name="idle", monthly_usd=Decimal("10")))
    lines = {(row["scope"], row["name"]): row for row in budget_lines(spend, budgets).iter_rows(named=True)}
    assert lines["developer", "alice"]["state"] == "ok" and lines["developer", "alice"]["budget_usd"] == 500
    assert lines["developer", "bob"]["state"] == "hard"  # 60 ≥ 50 × 1.1
    assert lines["developer", "bob"]["soft_usd"] == Decimal("40")
    assert lines["team", "core"]["state"] == "no budget"
    assert lines["repo", "idle"]["spent_usd"] == 0 and lines["repo", "idle"]["state"] == "ok"


def test_a_proposal_summary_reads_its_evidence() -> None:
    proposal = Proposal("p1", "v1", "v3", {}, {}, {"turns": 48_211, "delta_monthly_cost_usd": -412.5,
                                                   "delta_quality": {"value": 0.0021, "low": -0.0009, "high": 0.0052}},
                        "proposed", datetime(2026, 11, 23, 13, 40), "optimizer", None, None, None)
    row = summary_row(proposal)
    assert (row["change"], row["monthly_cost"], row["turns"]) == ("v1 → v3", "−$412.50", "48,211")
    assert row["quality"] == "+0.0021 (-0.0009 … +0.0052)"
    assert summary_row(Proposal("p2", "v1", "v2", {}, {}, {}, "rejected", datetime(2026, 1, 1), "x", None, None,
                                None))["monthly_cost"] == "–"
