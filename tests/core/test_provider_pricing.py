"""Bedrock's and Vertex's prices: list prices through global endpoints, a premium through regional ones."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from core.price_memo import PriceMemo
from core.pricing import PriceTableError, Usage, builtin_price_table, load_price_table, price_scope
from core.spans import Turn

DAY = dt.date(2026, 12, 1)
MILLION_IN = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.mark.parametrize(("provider", "region", "model", "usd", "price_id"), [
    (None, None, "claude-sonnet-4-5-20250929", "18", "claude-sonnet-4-5"),
    ("bedrock", "us-east-1", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "19.8", "regional-claude-sonnet-4-5"),
    ("bedrock", "eu-west-1", "anthropic.claude-haiku-4-5-20251001-v1:0", "6.6", "regional-claude-haiku-4-5"),
    ("bedrock", "us-east-1", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "18", "claude-sonnet-4-5"),
    ("vertex", "us-east5", "claude-opus-4-5@20251101", "33", "regional-claude-opus-4-5"),
    ("vertex", "global", "claude-opus-4-5@20251101", "30", "claude-opus-4-5"),
    # models before the premium: list price wherever they are served
    ("vertex", "us-east5", "claude-sonnet-4@20250514", "18", "claude-sonnet-4"),
])
def test_a_turn_is_priced_by_where_it_was_served(provider, region, model, usd, price_id) -> None:
    cost = builtin_price_table().cost(model, MILLION_IN, DAY, price_scope(provider, region, model))
    assert cost.usd == Decimal(usd) and cost.price_id == price_id and cost.exact


def test_the_proxy_s_turn_record_carries_what_pricing_needs() -> None:
    memo = PriceMemo(builtin_price_table())
    turn = Turn(trace_id=b"\0" * 16, span_id=b"\0" * 8, start_ns=1_764_547_200 * 10**9, end_ns=1_764_547_201 * 10**9,
                method="POST", path="/v1/messages", status_code=200, provider="bedrock", region="us-west-2",
                served_model="us.anthropic.claude-haiku-4-5-20251001-v1:0", input_tokens=1_000_000)
    assert memo.cost_of_turn(turn).usd == Decimal("1.1")
    assert memo.cost_of_turn(dataclasses.replace(turn, provider="anthropic")).usd == Decimal("1")


def test_a_scoped_price_never_leaks_to_other_providers_or_tiers() -> None:
    table = builtin_price_table()
    assert table.tier_of("us.anthropic.claude-haiku-4-5-20251001-v1:0") == "haiku"
    assert table.cost("claude-haiku-4-5", MILLION_IN, DAY).usd == Decimal(6)


def test_two_entries_for_one_scope_and_date_are_refused() -> None:
    entry = ("- {id: %s, pattern: claude-x, tier: haiku, effective_from: 2026-01-01, input: 1, output: 2, "
             "providers: [vertex], endpoint: regional}\n")
    with pytest.raises(PriceTableError, match="already has a price"):
        load_price_table(entry % "a" + entry % "b")
    # the same pattern and date with another scope is a different price
    load_price_table(entry % "a" + (entry % "b").replace("regional", "global"))
