"""One pricing, one tier: every consumer, called the way the product calls it, gets the Decimal and
the tier of core.pricing for any usage, model id and date.

Consumers: ingest's span pipeline (Pricer → stored row), the proxy's SpendLedger (as ProxyApp
builds it) and its per-request tier lookup, the evaluators (escalation's tiers, cost-outlier's
rates, as builtin_evaluators wires them), the optimizer's tier columns, the dashboard's decision
sentence and savings baseline, and the simulator's float costs.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from core.pricing import TIERS, Cost, Usage, UsageError, builtin_price_table
from core.redact import contains_secret
from core.spans import Turn, fill_span
from core.turn_bounds import TurnBounds
from dashboard.decision import explain_decision
from dashboard.savings import savings_by_day
from evals.cost_outlier import CostOutlierEvaluator
from evals.escalation import EscalationEvaluator
from evals.registry import builtin_evaluators
from ingest.decode import Batch
from ingest.pricer import Pricer
from ingest.spans_pipeline import SpanPipeline
from optimizer.features import with_tiers
from proxy.app import ProxyApp
from proxy.settings import ProxySettings
from sim.fleet_usage import Prices

TABLE = builtin_price_table()
NOW = dt.datetime(2026, 12, 1)
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- model ids ------------------------------------------------------------------------------

EXACT_IDS = sorted({entry.pattern for entry in TABLE.entries if not entry.fallback})
SPELLINGS = (
    "{id}",  # as listed
    "{id}-20250514",  # a dated release
    "{id}@20250514",  # Vertex
    "{id}-latest",
    "anthropic.{id}-20250805-v1:0",  # Bedrock
    "us.anthropic.{id}-20250805-v1:0",  # Bedrock cross-region
    "arn:aws:bedrock:us-east-1:1:inference-profile/eu.anthropic.{id}-v2:0",
    "projects/p/locations/us-east5/publishers/anthropic/models/{id}@20241022",
    "{ID}",
)
listed = st.builds(lambda spelling, model: spelling.format(id=model, ID=model.upper()),
                   st.sampled_from(SPELLINGS), st.sampled_from(EXACT_IDS))
words = st.sampled_from(["", "-", "x", "next", "4-7", "5", "claude", "mini", "v2:0", "/", "@2027"])
family = st.builds(lambda a, tier, b, upper: (a + tier + b).upper() if upper else a + tier + b,
                   words.map(lambda w: w + "-" if w else w), st.sampled_from(TIERS),
                   words.map(lambda w: "-" + w if w else w), st.booleans())
# (ingest refuses NUL and lone surrogates in any string before pricing: not a pricing question)
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=24)
garbage = st.one_of(text, st.sampled_from(["gpt-4o", "claude-instant-v1", "anthropic.claude-v2:1",
                                                           "opus-vs-haiku", " ", "CLAUDE"]))
models = st.one_of(listed, family, garbage, st.none())

# --- dates: mostly around the days prices change, where two consumers could pick different entries

CHANGES = sorted({entry.effective_from for entry in TABLE.entries})
near_a_change = st.builds(lambda day, shift: day + dt.timedelta(days=shift), st.sampled_from(CHANGES),
                          st.integers(-1, 1))
days = st.one_of(near_a_change, st.dates(dt.date(2023, 6, 1), dt.date(2027, 12, 31)))

# --- usages: from nothing to a big context, the 1-hour writes a part of the writes -------------

counts = st.one_of(st.integers(0, 2_000), st.integers(0, 1_100_000))


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    written = draw(counts)
    return Usage(input_tokens=draw(counts), output_tokens=draw(counts), cache_creation_tokens=written,
                 cache_creation_1h_tokens=draw(st.integers(0, written)), cache_read_tokens=draw(counts))


def turn_of(model: str | None, usage: Usage, day: dt.date, second: int) -> Turn:
    start_ns = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()) * 10**9 + second * 10**9 + 123
    return Turn(trace_id=b"\1" * 16, span_id=b"\2" * 8, start_ns=start_ns, end_ns=start_ns + 10**9,
                requested_model=model, served_model=model, developer="dev", team="team",
                input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                cache_creation_tokens=usage.cache_creation_tokens,
                cache_creation_1h_tokens=usage.cache_creation_1h_tokens, cache_read_tokens=usage.cache_read_tokens)


def span_of(turn: Turn) -> Span:
    span = Span()
    fill_span(span, turn)
    return span


# --- the consumers, built as the product builds them -------------------------------------------


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> ProxyApp:
    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    return ProxyApp(ProxySettings(upstream_api_key="sk-test", keys_file=keys, spool_dir=None))  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def evaluators() -> tuple[EscalationEvaluator, CostOutlierEvaluator]:
    found = builtin_evaluators(TABLE)
    escalation = next(e for e in found if isinstance(e, EscalationEvaluator))
    outlier = next(e for e in found if isinstance(e, CostOutlierEvaluator))
    return escalation, outlier


OPEN_BOUNDS = TurnBounds(max_age_s=1e12, max_future_s=1e12, max_tokens_per_field=10**9, max_identity_chars=10**6)


def ingest_cost(turn: Turn) -> Cost | None:
    """The stored row's price (None when ingest rejected the span)."""
    # bounds wide open: this is about the price of whatever ingest stores (the bounds have their own tests)
    pipeline = SpanPipeline.build(Pricer(TABLE), require_gen_ai=False, redact=True, bounds=OPEN_BOUNDS)
    prepared = pipeline.run(Batch(items=[(0, span_of(turn))]), NOW)
    if not prepared.rows:
        return None
    row = prepared.rows[0]
    return Cost(row["cost_usd"], row["priced"], row["price_id"], row["cost_exact"], row["cost_note"])


def identical(a: Decimal, b: Decimal) -> bool:
    """Equal and written the same (same exponent): what the store would hold, digit for digit."""
    return a == b and a.as_tuple() == b.as_tuple()


@PROPERTY
@given(model=models, usage=usages(), day=days, second=st.integers(0, 86_399))
def test_every_consumer_gets_the_same_price(proxy: ProxyApp, evaluators: tuple[EscalationEvaluator,
                                            CostOutlierEvaluator], model: str | None, usage: Usage,
                                            day: dt.date, second: int) -> None:
    assume(model is None or not contains_secret(model))  # ingest redacts such an id before pricing it
    expected = TABLE.cost(model, usage, day)
    assert expected.usd.as_tuple().exponent == -9
    assert expected.priced == (expected.price_id is not None) and (expected.note is None) == (expected.exact)
    turn = turn_of(model, usage, day, second)

    # ingest: the row it would store
    stored = ingest_cost(turn)
    assert stored is not None, "a consistent usage is never rejected for its price"
    assert stored == expected and identical(stored.usd, expected.usd)
    # the proxy's ledger (budgets): the same Decimal, so the snapshot's sums and the ledger's agree
    assert identical(proxy.ledger.cost(turn), expected.usd)
    # the dashboard's savings: the baseline side of one day's usage priced on ``model`` (the rollup
    # has no 1-hour split, so every write is a 5-minute one)
    rollup = Usage(usage.input_tokens, usage.output_tokens, usage.cache_creation_tokens, 0, usage.cache_read_tokens)
    frame = pl.DataFrame([(dt.datetime.combine(day, dt.time(12)), model, usage.input_tokens, usage.output_tokens,
                           usage.cache_creation_tokens, usage.cache_read_tokens, Decimal(1))], orient="row",
                         schema={"hour": pl.Datetime("us"), "model": pl.String(), "input_tokens": pl.Int64(),
                                 "output_tokens": pl.Int64(), "cache_write_tokens": pl.Int64(),
                                 "cache_read_tokens": pl.Int64(), "cost_usd": pl.Decimal(38, 9)})
    saved = savings_by_day(frame, TABLE, model or "")
    if expected.priced:
        assert identical(saved["baseline_usd"].item(), TABLE.cost(model, rollup, day).usd)
    else:
        assert saved.is_empty()
    # evals' expected-cost rates: a million tokens of a kind, priced by the same function
    rates = evaluators[1].rates(model, turn.start_ns)
    assert (rates is None) == (not expected.priced)
    if rates is not None:
        assert rates.output == float(TABLE.cost(model, Usage(output_tokens=10**6), day).usd) / 10**6
        assert rates.cache_write_1h == float(TABLE.cost(
            model, Usage(cache_creation_tokens=10**6, cache_creation_1h_tokens=10**6), day).usd) / 10**6
    # the simulator's float convenience is the same Decimal, as a float
    if model is not None:
        assert Prices(TABLE).cost_usd(model, usage, day) == float(expected.usd)


@PROPERTY
@given(model=models)
def test_every_consumer_gets_the_same_tier(proxy: ProxyApp, evaluators: tuple[EscalationEvaluator,
                                           CostOutlierEvaluator], model: str | None) -> None:
    expected = TABLE.tier_of(model)
    assert expected in (*TIERS, None)
    # the proxy's routing fact (requested_tier), asked once per request
    assert proxy.tier_of(model) == expected
    # evals: escalation's tier lookup
    assert evaluators[0].tiers(model) == expected
    # the optimizer's tier columns
    frame = with_tiers(pl.DataFrame({"model": [model], "requested_model": [model]},
                                    schema={"model": pl.String(), "requested_model": pl.String()}), TABLE)
    assert frame.row(0, named=True)["tier"] == expected == frame.row(0, named=True)["requested_tier"]
    # the dashboard's decision sentence
    sentence = explain_decision({"served_model": model, "target": "t"}, TABLE)
    destination = expected if expected else "target t"
    assert sentence.startswith(f"no routing rule recorded → {destination};")


@PROPERTY
@given(model=models, written=st.integers(0, 10_000), extra=st.integers(1, 10_000), day=days)
def test_more_1h_cache_writes_than_cache_writes_is_refused_everywhere(
        proxy: ProxyApp, model: str | None, written: int, extra: int, day: dt.date) -> None:
    """Inconsistent upstream usage has one rule: it is not a Usage. Ingest rejects the span with
    the reason (nothing stored), so the ledger counts it as the store will: nothing."""
    with pytest.raises(UsageError, match="cache_creation_1h_tokens"):
        Usage(cache_creation_tokens=written, cache_creation_1h_tokens=written + extra)
    turn = Turn(trace_id=b"\1" * 16, span_id=b"\2" * 8,
                start_ns=int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()) * 10**9 + 1,
                end_ns=int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()) * 10**9 + 2,
                served_model=model, output_tokens=100, cache_creation_tokens=written,
                cache_creation_1h_tokens=written + extra)
    # bounds wide open: this is about the price of whatever ingest stores (the bounds have their own tests)
    pipeline = SpanPipeline.build(Pricer(TABLE), require_gen_ai=False, redact=True, bounds=OPEN_BOUNDS)
    prepared = pipeline.run(Batch(items=[(0, span_of(turn))]), NOW)
    assert not prepared.rows
    assert "cache_creation_1h_tokens" in prepared.rejections[0].reason
    assert proxy.ledger.cost(turn) == 0


def test_the_property_draws_what_it_claims() -> None:
    """The strategies reach every kind of answer: exact, fallback, unpriced, each tier and none."""
    examples = [TABLE.cost(m, Usage(), dt.date(2026, 1, 1)) for m in
                ("claude-opus-4-1", "claude-opus-9", "gpt-4o", None)]
    assert [(c.priced, c.exact) for c in examples] == [(True, True), (True, False), (False, False), (False, False)]
    assert {TABLE.tier_of(m) for m in ("claude-3-haiku", "x-sonnet", "OPUS", "gpt-4o")} == {*TIERS, None}
    assert len(EXACT_IDS) >= 12 and dt.date(2025, 11, 24) in CHANGES


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 200_000), st.integers(0, 50_000), st.integers(0, 100_000),
                               st.integers(0, 100), st.integers(0, 300_000), st.integers(0, 2)),
                     min_size=1, max_size=30))
def test_the_optimizers_replay_prices_each_turn_on_its_own_tier_as_the_one_function_does(
        rows: list[tuple[int, int, int, int, int, int]]) -> None:
    """On the tier a turn was logged on (its output then needs no rescaling), the replay's float cost
    is the one pricing function's Decimal, 1-hour cache writes included."""
    import numpy as np

    from core.policy.schema import Policy
    from optimizer.propose import tier_rates
    from optimizer.replay import cost_matrix

    policy = Policy.model_validate({"version": "v1", "targets": [
        {"name": tier, "base_url": "https://api.anthropic.com", "model": model, "tier": tier}
        for tier, model in (("haiku", "claude-haiku-4-5"), ("sonnet", "claude-sonnet-4-5"),
                            ("opus", "claude-opus-4-1"))], "default": {"route": ["sonnet"]}})
    frame = pl.DataFrame([(u, out, w, min(h, w), r) for u, out, w, h, r, _ in rows],
                         schema=["input_tokens", "output_tokens", "cache_creation_tokens", "cache_creation_1h_tokens",
                                 "cache_read_tokens"], orient="row")
    logged = np.array([tier for *_, tier in rows])
    costs = cost_matrix(frame, logged, tier_rates(policy, TABLE, NOW))
    for i, (u, out, w, h, r, tier) in enumerate(rows):
        model = policy.targets[tier].model
        expected = TABLE.cost(model, Usage(u, out, w, min(h, w), r), NOW.date()).usd
        assert costs[i, tier] == pytest.approx(float(expected), rel=1e-9, abs=1e-9)
