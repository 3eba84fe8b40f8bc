"""Each built-in evaluator on hand-made turns: what it flags, what it leaves alone, and what it
says about turns it does not apply to."""

from __future__ import annotations

import pytest

from core.price_memo import PriceMemo
from core.pricing import builtin_price_table
from evals.cost_outlier import CostOutlierEvaluator
from evals.escalation import EscalationEvaluator
from evals.expected_cost import RateLookup
from evals.latency import LatencyEvaluator, LatencySLO
from evals.malformed_input import MalformedToolInputEvaluator
from evals.protocol import NOT_APPLICABLE, CostBaseline, Score, ToolResultEvent
from evals.stuck_loop import StuckLoopEvaluator
from evals.tiers import TierLookup
from evals.tool_failure import ToolFailureEvaluator
from evals.truncation import TruncationEvaluator
from evals.upstream_error import UpstreamErrorEvaluator
from tests.evals.turns import SECOND, contexts, turn

HAIKU, SONNET, OPUS = "claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101"


def tool_loop(error_ids: tuple[str, ...] = ()) -> list:  # type: ignore[type-arg]
    return [
        turn(0, stop_reason="tool_use", tool_use_ids=("toolu_a", "toolu_b"), tool_use_names=("Edit", "Read")),
        turn(1, tool_result_ids=("toolu_a", "toolu_b"), tool_result_error_ids=error_ids),
    ]


def test_tool_failure_reads_is_error_on_the_next_turn() -> None:
    failed = contexts(tool_loop(("toolu_a",)))
    assert ToolFailureEvaluator().score(failed[0]) == Score(0.0, "tool_failed", "1 of 2 tool call(s) failed: Edit")
    assert ToolFailureEvaluator().score(contexts(tool_loop())[0]).label == "ok"
    assert ToolFailureEvaluator().score(failed[1]).label == NOT_APPLICABLE  # it called no tools


def test_tool_failure_also_reads_claude_code_telemetry() -> None:
    turns = tool_loop()  # the next request reported no error, the CLI's own event did
    event = ToolResultEvent(turns[0].end_ns + SECOND, "Read", False, "File does not exist.", tool_use_id="toolu_b")
    score = ToolFailureEvaluator().score(contexts(turns, events=[event])[0])
    assert (score.value, score.label) == (0.0, "tool_failed") and "File does not exist." in (score.reason or "")
    # without a tool_use_id the event is matched by tool name while the tools ran
    anonymous = ToolResultEvent(turns[0].end_ns + SECOND, "Edit", False, "String to replace not found in file.")
    assert ToolFailureEvaluator().score(contexts(turns, events=[anonymous])[0]).failing
    late = ToolResultEvent(turns[1].start_ns + SECOND, "Edit", False, "a later call's failure")
    assert not ToolFailureEvaluator().score(contexts(turns, events=[late])[0]).failing


@pytest.mark.parametrize(("error", "flagged"), [
    ("InputValidationError: Edit failed due to the following issue: The required parameter `old_string` is missing",
     True),
    ("Unexpected token } in JSON at position 12", True),
    ("String to replace not found in file.", False),
])
def test_malformed_input_needs_the_validation_error_text(error: str, flagged: bool) -> None:
    turns = tool_loop(("toolu_a",))
    event = ToolResultEvent(turns[0].end_ns + SECOND, "Edit", False, error, tool_use_id="toolu_a")
    score = MalformedToolInputEvaluator().score(contexts(turns, events=[event])[0])
    assert score.failing is flagged
    assert MalformedToolInputEvaluator().score(contexts(turns)[0]).label == NOT_APPLICABLE  # no telemetry


@pytest.mark.parametrize(("values", "label", "failing"), [
    ({"stop_reason": "max_tokens", "output_tokens": 32_000}, "truncated", True),
    ({"stop_reason": "end_turn"}, "ok", False),
    ({"stop_reason": None, "status_code": 529, "error_type": "overloaded_error"}, NOT_APPLICABLE, False),
])
def test_truncation(values: dict, label: str, failing: bool) -> None:  # type: ignore[type-arg]
    score = TruncationEvaluator().score(contexts([turn(0, **values)])[0])
    assert (score.label, score.failing) == (label, failing)


@pytest.mark.parametrize(("values", "label", "failing"), [
    ({}, "ok", False),
    ({"status_code": 504, "error_type": "timeout_error", "error_message": "Request timed out"}, "timeout_error", True),
    ({"status_code": 529, "error_type": "overloaded_error", "fallback_hops": ("anthropic", "bedrock")},
     "fallback_exhausted", True),
    ({"status_code": 500}, "http_500", True),
    ({"status_code": 200, "error_type": "upstream_disconnected"}, "upstream_disconnected", True),
    ({"status_code": 401, "error_type": "authentication_error"}, "authentication_error", False),
    ({"status_code": 499, "error_type": "client_disconnected"}, "client_disconnected", False),
])
def test_upstream_error(values: dict, label: str, failing: bool) -> None:  # type: ignore[type-arg]
    score = UpstreamErrorEvaluator().score(contexts([turn(0, **values)])[0])
    assert (score.label, score.failing) == (label, failing)


def test_latency_slo_scales_with_tokens() -> None:
    slo = LatencySLO(base_ms=1000, per_1k_input_ms=10, per_output_token_ms=1)
    evaluator = LatencyEvaluator(slo)
    # 20 000 + 1 000 + 8 input tokens, 300 output: budget 1000 + 210.08 + 300 ≈ 1510 ms
    fast = turn(0, end_ns=turn(0).start_ns + 700_000_000)
    at_slo = turn(0, end_ns=turn(0).start_ns + 1_510_080_000)
    slow = turn(0, end_ns=turn(0).start_ns + 3 * SECOND)
    assert evaluator.score(contexts([fast])[0]).value == 1.0
    assert evaluator.score(contexts([at_slo])[0]).value == pytest.approx(0.5, abs=1e-3)
    assert evaluator.score(contexts([slow])[0]).label == "slow"
    assert evaluator.score(contexts([slow])[0]).value == 0.0
    bigger = turn(0, end_ns=turn(0).start_ns + 3 * SECOND, cache_read_tokens=300_000)
    assert not evaluator.score(contexts([bigger])[0]).failing  # 3 s is fine for 300 K tokens
    assert evaluator.score(contexts([turn(0, status_code=529, error_type="overloaded_error")])[0]).label == "n/a"


def test_stuck_loop_flags_the_nth_consecutive_same_tool_turn() -> None:
    names = ["Read", "Grep", "Grep", "Grep", "Grep", "Grep", "Grep", "Edit"]
    turns = [turn(i, stop_reason="tool_use", tool_use_ids=(f"toolu_{i}",), tool_use_names=(name,))
             for i, name in enumerate(names)]
    labels = [StuckLoopEvaluator(repeats=5).score(ctx).label for ctx in contexts(turns)]
    assert labels == ["ok", "ok", "ok", "ok", "ok", "stuck_loop", "stuck_loop", "ok"]
    mixed = turn(0, tool_use_ids=("a", "b"), tool_use_names=("Grep", "Read"))
    assert StuckLoopEvaluator().score(contexts([mixed])[0]).label == NOT_APPLICABLE


def test_escalation_reads_the_next_requested_model() -> None:
    evaluator = EscalationEvaluator(TierLookup(PriceMemo(builtin_price_table())))
    turns = [turn(0, requested_model=HAIKU), turn(1, requested_model=OPUS), turn(2, requested_model=SONNET),
             turn(3, requested_model=SONNET, served_model=OPUS)]
    assert [evaluator.score(ctx).label for ctx in contexts(turns)] == ["escalated", "ok", "ok", NOT_APPLICABLE]


def test_side_requests_are_not_part_of_the_thread() -> None:
    # a title request (no tools, no request class) between two main turns is not "the next turn"
    main = [turn(0, requested_model=SONNET), turn(2, requested_model=SONNET)]
    side = turn(1, requested_model=OPUS, request_class=None, tool_count=0)
    evaluator = EscalationEvaluator(TierLookup(PriceMemo(builtin_price_table())))
    by_span = {ctx.turn.span_id: ctx for ctx in contexts([*main, side])}
    assert evaluator.score(by_span[main[0].span_id]).label == "ok"
    assert evaluator.score(by_span[side.span_id]).label == NOT_APPLICABLE


def test_cost_outlier_catches_a_cache_miss_but_not_a_big_context() -> None:
    rates = RateLookup(PriceMemo(builtin_price_table()))
    evaluator = CostOutlierEvaluator(rates)
    turns = [turn(i) for i in range(10)]
    rate = rates(SONNET, turns[0].start_ns)
    assert rate is not None
    # the 6th turn missed the cache: its whole prompt was written again
    turns[6] = turn(6, cache_read_tokens=0, cache_creation_tokens=27_000)
    costs = [t.input_tokens * rate.input + t.cache_creation_tokens * rate.cache_write_5m
             + t.cache_read_tokens * rate.cache_read + t.output_tokens * rate.output for t in turns]
    scores = [evaluator.score(ctx) for ctx in contexts(turns, costs)]
    assert [score.label for score in scores] == ["ok"] * 6 + ["outlier"] + ["ok"] * 3
    assert "against its thread's neighbours" in (scores[6].reason or "")


def test_cost_outlier_falls_back_to_the_developer_baseline() -> None:
    evaluator = CostOutlierEvaluator(RateLookup(PriceMemo(builtin_price_table())))
    unknown = turn(0, requested_model="some-new-model", served_model="some-new-model")  # no price: no residual
    baseline = CostBaseline(median=-4.6, scale=0.5, count=50)  # about a cent
    flagged = evaluator.score(contexts([unknown], [1.0], baseline=baseline)[0])
    assert flagged.label == "outlier" and "developer" in (flagged.reason or "")
    assert evaluator.score(contexts([unknown], [0.012], baseline=baseline)[0]).label == "ok"
    assert evaluator.score(contexts([unknown], [1.0])[0]).label == NOT_APPLICABLE
