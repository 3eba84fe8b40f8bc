"""core.pricing: the shipped price table, cost arithmetic, matching rules and validation."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.price_memo import PriceMemo, turn_day
from core.pricing import (
    Cost,
    PriceEntry,
    PriceTable,
    PriceTableError,
    Usage,
    UsageError,
    builtin_price_table,
    canonical_model_id,
    load_price_table,
)

# 1000 uncached in, 300 out, 2500 cache writes of which 500 with the 1-hour TTL, 10000 cache reads
MIXED = Usage(input_tokens=1000, output_tokens=300, cache_creation_tokens=2500,
              cache_creation_1h_tokens=500, cache_read_tokens=10_000)  # fmt: skip
TODAY = dt.date(2026, 1, 15)


@pytest.fixture(scope="module")
def builtin() -> PriceTable:
    return builtin_price_table()


# Expected values worked by hand: (in*P + 5m*P*1.25 + 1h*P*2 + read*P*0.1 + out*Q) / 1e6
@pytest.mark.parametrize(
    ("model", "usd", "price_id", "exact"),
    [
        # 3/15: 3000 + 2000*3.75=7500 + 500*6=3000 + 10000*0.3=3000 + 300*15=4500 = 21000
        ("claude-sonnet-4-5-20250929", "0.021", "claude-sonnet-4-5", True),
        ("claude-sonnet-4-20250514", "0.021", "claude-sonnet-4", True),
        ("claude-sonnet-4@20250514", "0.021", "claude-sonnet-4", True),
        ("anthropic.claude-sonnet-4-20250514-v1:0", "0.021", "claude-sonnet-4", True),
        ("claude-3-7-sonnet-latest", "0.021", "claude-3-7-sonnet", True),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "0.021", "claude-3-5-sonnet", True),
        # 15/75: 15000 + 37500 + 15000 + 15000 + 22500 = 105000
        ("claude-opus-4-1-20250805", "0.105", "claude-opus-4-1", True),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "0.105", "claude-opus-4-1", True),
        ("CLAUDE-OPUS-4-20250514", "0.105", "claude-opus-4", True),
        ("claude-3-opus-20240229", "0.105", "claude-3-opus", True),
        # 5/25: 5000 + 12500 + 5000 + 5000 + 7500 = 35000
        ("claude-opus-4-5-20251101", "0.035", "claude-opus-4-5", True),
        ("claude-opus-4-5", "0.035", "claude-opus-4-5", True),
        # 1/5: 1000 + 2500 + 1000 + 1000 + 1500 = 7000
        ("claude-haiku-4-5-20251001", "0.007", "claude-haiku-4-5", True),
        # 0.8/4: 800 + 2000 + 800 + 800 + 1200 = 5600
        ("claude-3-5-haiku-20241022", "0.0056", "claude-3-5-haiku", True),
        ("claude-3-5-haiku@20241022", "0.0056", "claude-3-5-haiku", True),
        # 0.25/1.25 with 1.2x / 2x / 0.12x: 250 + 600 + 250 + 300 + 375 = 1775
        ("claude-3-haiku-20240307", "0.001775", "claude-3-haiku", True),
        # releases the table does not list: the family's current price, marked inexact
        ("claude-opus-5-5", "0.035", "opus-family-2025-11", False),
        ("claude-opus-4-6", "0.035", "opus-family-2025-11", False),
        ("claude-sonnet-5", "0.021", "sonnet-family-2024-02", False),
        ("eu.anthropic.claude-haiku-5-20270101-v1:0", "0.007", "haiku-family-2025-10", False),
    ],
)
def test_builtin_prices(builtin: PriceTable, model: str, usd: str, price_id: str, exact: bool) -> None:
    cost = builtin.cost(model, MIXED, TODAY)
    assert cost.priced
    assert cost.usd == Decimal(usd)
    assert (cost.price_id, cost.exact) == (price_id, exact)
    assert (cost.note is None) == exact
    if not exact:
        assert price_id in (cost.note or "")


@pytest.mark.parametrize(
    "model", ["gpt-4o", "mystery", "claude-instant-v1", "anthropic.claude-v2:1", "", None]
)
def test_unknown_models_are_unpriced_and_say_so(builtin: PriceTable, model: str | None) -> None:
    cost = builtin.cost(model, MIXED, TODAY)
    assert cost == Cost(Decimal(0), priced=False, price_id=None, exact=False, note=cost.note)
    assert cost.note
    assert builtin.tier_of(model) is None


@pytest.mark.parametrize(
    ("usage", "usd"),
    [
        (Usage(), "0"),
        (Usage(input_tokens=1_000_000), "3"),
        (Usage(output_tokens=1_000_000), "15"),
        (Usage(cache_creation_tokens=1_000_000), "3.75"),  # all 5-minute writes
        (Usage(cache_creation_tokens=1_000_000, cache_creation_1h_tokens=1_000_000), "6"),
        (Usage(cache_read_tokens=1_000_000), "0.3"),
        (Usage(input_tokens=1), "0.000003"),
        (Usage(input_tokens=7, output_tokens=3), "0.000066"),
        (Usage(input_tokens=10**15, output_tokens=10**15 + 1), "18000000000.000015"),  # exact before rounding
    ],
)
def test_cost_arithmetic_is_exact(builtin: PriceTable, usage: Usage, usd: str) -> None:
    cost = builtin.cost("claude-sonnet-4-5", usage, TODAY)
    assert cost.usd == Decimal(usd)
    assert cost.usd.as_tuple().exponent == -9  # always at the stored precision


def test_cost_is_rounded_once_half_even_to_nano_dollars() -> None:
    # 0.0005 $/MTok is 5e-10 $ a token: half a nano-dollar
    table = load_price_table("- {id: a, pattern: x, tier: haiku, effective_from: 2025-01-01, input: 0.0005, output: 0}")
    usd = [table.cost("x", Usage(input_tokens=n), TODAY).usd for n in (1, 3, 5, 2_000_001)]
    assert usd == [Decimal("0E-9"), Decimal("2E-9"), Decimal("2E-9"), Decimal("1.000000000E-3")]
    # the exact sum is rounded, not each part: 1 input + 1 output token at 0.0005 is 1e-9, not 0 + 0
    both = load_price_table(
        "- {id: a, pattern: x, tier: haiku, effective_from: 2025-01-01, input: 0.0005, output: 0.0005}")
    assert both.cost("x", Usage(input_tokens=1, output_tokens=1), TODAY).usd == Decimal("1E-9")


def test_usage_rejects_negative_counts() -> None:
    with pytest.raises(UsageError, match="output_tokens"):
        Usage(output_tokens=-1)


def test_usage_refuses_more_1h_cache_writes_than_cache_writes() -> None:
    # the 1-hour tokens are part of cache_creation_tokens: more of them is corrupt data, refused, never clamped
    with pytest.raises(UsageError, match="cache_creation_1h_tokens"):
        Usage(cache_creation_tokens=10, cache_creation_1h_tokens=20)
    assert Usage(cache_creation_tokens=20, cache_creation_1h_tokens=20).cache_creation_1h_tokens == 20
    assert issubclass(UsageError, ValueError)


@pytest.mark.parametrize(
    ("model", "tier"),
    [
        ("claude-opus-5-5", "opus"),
        ("claude-opus-4-1-20250805", "opus"),
        ("claude-sonnet-4-5@20250929", "sonnet"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "sonnet"),
        ("claude-3-5-haiku-latest", "haiku"),
        ("claude-haiku-4-5", "haiku"),
        ("Claude-Haiku-9", "haiku"),
        # the table cannot place these: the one family word in the id decides
        ("opus-next", "opus"),
        ("my-org/Sonnet-distilled", "sonnet"),
        ("anthropic.claude-v2:1", None),
        ("opus-vs-haiku", None),  # two family words: no guess
        ("gpt-4o", None),
        ("", None),
        (None, None),
    ],
)
def test_tier_of(builtin: PriceTable, model: str | None, tier: str | None) -> None:
    assert builtin.tier_of(model) == tier
    assert PriceMemo(builtin).tier_of(model) == tier


def test_tier_of_asks_the_table_before_the_family_word() -> None:
    table = load_price_table(
        "- {id: a, pattern: opus-lite, tier: haiku, effective_from: 2030-01-01, input: 1, output: 1}")
    assert table.tier_of("opus-lite") == "haiku"  # the table's tier, even before the price is in force
    assert table.tier_of("opus-heavy") == "opus"


def test_an_id_tiered_by_its_family_word_alone_is_unpriced_with_that_reason(builtin: PriceTable) -> None:
    cost = builtin.cost("opus-next", MIXED, TODAY)
    assert not cost.priced and cost.note == "no price for model 'opus-next'"


@pytest.mark.parametrize(
    ("model", "canonical"),
    [
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("us.anthropic.claude-3-sonnet-20240229-v1:0:200k", "claude-3-sonnet"),
        ("arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0",
         "claude-opus-4-1"),
        ("projects/p/locations/us-east5/publishers/anthropic/models/claude-3-5-sonnet-v2@20241022",
         "claude-3-5-sonnet"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        (" Claude-Opus-5-5 ", "claude-opus-5-5"),
        ("mystery", "mystery"),
    ],
)  # fmt: skip
def test_canonical_model_id(model: str, canonical: str) -> None:
    assert canonical_model_id(model) == canonical


def test_builtin_table_has_a_fallback_for_every_tier(builtin: PriceTable) -> None:
    fallback_tiers = {entry.tier for entry in builtin.entries if entry.fallback}
    assert fallback_tiers == {"haiku", "sonnet", "opus"}
    assert builtin.lookup("claude-3-5-haiku", TODAY) is not None


# --- effective dates and specificity, on small tables ----------------------------------------

DATED = """
- {id: old, pattern: "claude-opus-4*", tier: opus, effective_from: 2025-01-01, input: 15, output: 75}
- {id: new, pattern: "claude-opus-4*", tier: opus, effective_from: 2025-11-24, input: 5, output: 25}
- {id: exact-45, pattern: claude-opus-4-5*, tier: opus, effective_from: 2025-12-01, input: 4, output: 20}
- {id: family, pattern: "*opus*", tier: opus, effective_from: 2020-01-01, input: 1, output: 1, fallback: true}
"""
PER_MILLION_IN_AND_OUT = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.mark.parametrize(
    ("model", "at", "price_id", "usd"),
    [
        ("claude-opus-4-1", dt.date(2025, 1, 1), "old", "90"),  # on its first day
        ("claude-opus-4-1", dt.date(2025, 11, 23), "old", "90"),
        ("claude-opus-4-1", dt.date(2025, 11, 24), "new", "30"),  # the day the new price starts
        ("claude-opus-4-1", dt.datetime(2025, 11, 24, 23, 59), "new", "30"),
        ("claude-opus-4-5", dt.date(2025, 11, 30), "new", "30"),  # the more specific one not yet in force
        ("claude-opus-4-5", dt.date(2025, 12, 1), "exact-45", "24"),  # more specific beats later
        ("claude-opus-4-5", dt.date(2030, 1, 1), "exact-45", "24"),
        ("claude-opus-4-1", dt.date(2024, 6, 1), "family", "2"),  # before any exact price: the fallback
        ("claude-opus-9", dt.date(2030, 1, 1), "family", "2"),
    ],
)
def test_effective_dates_and_specificity(model: str, at: dt.date, price_id: str, usd: str) -> None:
    cost = load_price_table(DATED).cost(model, PER_MILLION_IN_AND_OUT, at)
    assert (cost.price_id, cost.usd) == (price_id, Decimal(usd))
    assert cost.exact == (price_id != "family")


def test_no_price_in_effect_yet_is_unpriced_with_that_reason() -> None:
    table = load_price_table(DATED.replace("2020-01-01", "2026-01-01"))
    cost = table.cost("claude-opus-4-1", PER_MILLION_IN_AND_OUT, dt.date(2024, 1, 1))
    assert not cost.priced
    assert "no price in effect on 2024-01-01" in (cost.note or "")


def test_regex_patterns_and_explicit_specificity() -> None:
    table = load_price_table("""
- {id: glob, pattern: "claude-sonnet-4*", tier: sonnet, effective_from: 2025-01-01, input: 3, output: 15}
- {id: rx, pattern: "re:claude-sonnet-4-[5-9](-.*)?", specificity: 100, tier: sonnet,
   effective_from: 2025-01-01, input: 2, output: 10, cache_read: 0.5}
- {id: rx-weak, pattern: "re:Claude-HAIKU-.*", tier: haiku, effective_from: 2025-01-01, input: 1, output: 5}
""")
    reads = Usage(cache_read_tokens=1_000_000)
    assert table.cost("claude-sonnet-4-5-20250929", reads, TODAY).price_id == "rx"
    assert table.cost("claude-sonnet-4-5", reads, TODAY).usd == Decimal(1)
    assert table.cost("claude-sonnet-4-1", Usage(), TODAY).price_id == "glob"
    assert table.cost("CLAUDE-HAIKU-4-5", Usage(), TODAY).price_id == "rx-weak"  # regex is case-insensitive


def test_prices_written_as_yaml_floats_stay_exact() -> None:
    table = load_price_table(
        "- {id: a, pattern: x*, tier: haiku, effective_from: 2025-01-01, input: 0.1, output: 0.2}"
    )
    (entry,) = table.entries
    assert (entry.input, entry.output) == (Decimal("0.1"), Decimal("0.2"))
    # with floats 3 * 0.1 is 0.30000000000000004
    assert table.cost("x1", Usage(input_tokens=3), TODAY).usd == Decimal("0.0000003")


def test_an_exact_price_beats_a_more_specific_fallback() -> None:
    table = load_price_table("""
- {id: fallback, pattern: "claude-opus-*", fallback: true, tier: opus, effective_from: 2025-01-01,
   input: 1, output: 1}
- {id: exact, pattern: "*-4-1", tier: opus, effective_from: 2024-01-01, input: 2, output: 2}
""")
    assert table.cost("claude-opus-4-1", Usage(), TODAY).price_id == "exact"
    assert table.cost("claude-opus-4-2", Usage(), TODAY).price_id == "fallback"


# --- validation ----------------------------------------------------------------------------

GOOD = "{id: a, pattern: claude-x, tier: opus, effective_from: 2025-01-01, input: 1, output: 2}"
TOO_PRECISE = f"input: '1.{'3' * 40}', cache_read: '0.{'7' * 30}'"  # 70 digits: no exact product in 60


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- [unclosed", "not valid YAML"),
        ("- {id: a, effective_from: 2025-13-01}", "not valid YAML"),
        ("", "must be a YAML list"),
        ("prices: []", "must be a YAML list"),
        ("[]", "no entries"),
        (f"- {GOOD}\n- 5", "entry 1"),
        ("- {id: a, pattern: p, tier: opus, effective_from: 2025-01-01, input: 1}", "entry 0 ('a'): output"),
        (f"- {GOOD.replace('input: 1', 'input: -1')}", "entry 0 ('a'): input"),
        (f"- {GOOD.replace('input: 1', 'input: .nan')}", "finite"),
        (f"- {GOOD.replace('input: 1', 'input: true')}", "input"),
        (f"- {GOOD.replace('input: 1', 'input: lots')}", "input"),
        (f"- {GOOD.replace('opus', 'gpt')}", "tier"),
        (f"- {GOOD.replace('2025-01-01', 'someday')}", "effective_from"),
        (f"- {GOOD.replace('id: a,', 'id: a, colour: red,')}", "colour"),
        (f"- {GOOD.replace('claude-x', 're:claude-(')}", "bad pattern"),
        (f"- {GOOD.replace('claude-x', '')}", "pattern"),
        (f"- {GOOD}\n- {GOOD.replace('claude-x', 'claude-y')}", "'a' is used twice"),
        (f"- {GOOD}\n- {GOOD.replace('id: a', 'id: b')}", "already has a price from 2025-01-01"),
        (f"- {GOOD.replace('input: 1', TOO_PRECISE)}", "exactly"),
    ],
)
def test_bad_price_tables_raise_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(PriceTableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_price_table(text)


def test_price_table_error_is_a_value_error() -> None:
    assert issubclass(PriceTableError, ValueError)


# --- the memo -------------------------------------------------------------------------------


def test_the_memo_answers_as_the_table_and_stays_bounded(builtin: PriceTable) -> None:
    memo = PriceMemo(builtin, limit=3)
    models = ["claude-opus-4-1", "claude-sonnet-4@20250514", "gpt-4o", None, "opus-next", "claude-opus-4-1"]
    for model in models:
        for day in (dt.date(2024, 1, 1), TODAY):
            assert memo.cost(model, MIXED, day) == builtin.cost(model, MIXED, day)
        assert memo.tier_of(model) == builtin.tier_of(model)
        assert len(memo._tiers) <= 3 and len(memo._days) <= 3


def test_per_token_rates_come_from_the_pricing_function(builtin: PriceTable) -> None:
    rates = PriceMemo(builtin).per_token("claude-3-haiku-20240307", TODAY)
    assert rates is not None
    assert (rates.input, rates.output, rates.cache_write_5m, rates.cache_write_1h, rates.cache_read) == (
        0.25e-6, 1.25e-6, 0.3e-6, 0.5e-6, 0.03e-6)
    assert PriceMemo(builtin).per_token("gpt-4o", TODAY) is None


@pytest.mark.parametrize(
    ("start_ns", "day"),
    [
        (0, dt.date(1970, 1, 1)),
        (1_764_547_199_999_999_999, dt.date(2025, 11, 30)),  # a nanosecond before midnight UTC
        (1_764_547_200_000_000_000, dt.date(2025, 12, 1)),
    ],
)
def test_a_turn_is_priced_on_the_utc_day_it_started(start_ns: int, day: dt.date) -> None:
    assert turn_day(start_ns) == day


# --- the arithmetic against plain exact Decimal arithmetic --------------------------------------

prices = st.decimals(min_value=0, max_value=200, places=4)
multipliers = st.decimals(min_value=0, max_value=5, places=3)
tokens = st.integers(0, 10**9)


@settings(max_examples=300, deadline=None)
@given(price_in=prices, price_out=prices, write_5m=multipliers, write_1h=multipliers, read=multipliers,
       counts=st.tuples(tokens, tokens, tokens, tokens), one_hour_share=st.floats(0, 1))
def test_integer_arithmetic_is_the_exact_decimal_cost_rounded_half_even(
        price_in: Decimal, price_out: Decimal, write_5m: Decimal, write_1h: Decimal, read: Decimal,
        counts: tuple[int, int, int, int], one_hour_share: float) -> None:
    entry = PriceEntry(id="a", pattern="x", tier="opus", effective_from=dt.date(2025, 1, 1), input=price_in,
                       output=price_out, cache_write_5m=write_5m, cache_write_1h=write_1h, cache_read=read)
    written = counts[2]
    one_hour = int(written * one_hour_share)
    usage = Usage(counts[0], counts[1], written, one_hour, counts[3])
    with localcontext() as ctx:
        ctx.prec = 80
        exact = (usage.input_tokens * price_in + (written - one_hour) * price_in * write_5m
                 + one_hour * price_in * write_1h + usage.cache_read_tokens * price_in * read
                 + usage.output_tokens * price_out) / Decimal(10**6)
        expected = exact.quantize(Decimal("1e-9"), rounding=ROUND_HALF_EVEN)
    got = entry.cost_of(usage)
    assert got == expected and got.as_tuple().exponent == -9


def test_a_cost_does_not_depend_on_the_callers_decimal_context(builtin: PriceTable) -> None:
    usage = Usage(input_tokens=123_457, output_tokens=999_999, cache_read_tokens=10**12)
    expected = builtin.cost("claude-opus-4-1", usage, TODAY).usd
    with localcontext() as ctx:
        ctx.prec = 3
        assert builtin.cost("claude-opus-4-1", usage, TODAY).usd == expected
    assert expected == Decimal("1500076.851780000")  # 1.5 M$ of reads + 76.85178
