"""The built-in evaluator set. The LLM judge is not in it unless asked for (it costs tokens)."""

from __future__ import annotations

from core.price_memo import PriceMemo
from core.pricing import PriceTable
from evals.cost_outlier import CostOutlierEvaluator
from evals.escalation import EscalationEvaluator
from evals.expected_cost import RateLookup
from evals.latency import LatencyEvaluator, LatencySLO
from evals.malformed_input import MalformedToolInputEvaluator
from evals.protocol import Evaluator
from evals.stuck_loop import StuckLoopEvaluator
from evals.tiers import TierLookup
from evals.tool_failure import ToolFailureEvaluator
from evals.truncation import TruncationEvaluator
from evals.upstream_error import UpstreamErrorEvaluator


def builtin_evaluators(prices: PriceTable, *, slo: LatencySLO | None = None, stuck_repeats: int = 5,
                       extra: tuple[Evaluator, ...] = ()) -> list[Evaluator]:
    memo = PriceMemo(prices)
    return [
        ToolFailureEvaluator(),
        MalformedToolInputEvaluator(),
        TruncationEvaluator(),
        UpstreamErrorEvaluator(),
        LatencyEvaluator(slo or LatencySLO()),
        CostOutlierEvaluator(RateLookup(memo)),
        StuckLoopEvaluator(repeats=stuck_repeats),
        EscalationEvaluator(TierLookup(memo)),
        *extra,
    ]
