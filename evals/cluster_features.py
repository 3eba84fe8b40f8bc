"""What describes a failing turn for clustering: the tier that failed it, its request class, how many
tools the request offered, its prompt size, how many tools it called and which, which of them
failed, which evaluators flagged it, its error type, stop reason and the error texts (Anthropic's
error message, Claude Code's tool errors). Pure: a TurnContext plus its failing evaluator names in,
one :class:`FailureFeatures` out.

The tier is the one that *failed*: for a turn a fallback rescued (the proxy records the chain it
walked, ``target:outcome`` per hop, in ``fallback_hops``), that is the first hop's target's tier,
not the tier that answered in the end (the first hop may be ``breaker_open``: the primary's circuit
was open from a recent failure); a slow rescued timeout is the primary's failure mode. A turn no
model served (its target answered an error and there was nowhere else to go) is its target's tier."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from evals.protocol import TurnContext

# Evaluators whose low scores count as failures to cluster. Escalation is left out by default: it
# is the developer's reaction to a failure that one of these already caught (or could not see).
CLUSTERED_EVALUATORS = (
    "tool_failure", "malformed_tool_input", "truncation", "upstream_error", "latency_slo", "cost_outlier",
    "stuck_loop",
)
# Context-size buckets used in features and names ("> 12 K tokens").
TOKEN_EDGES = (8_000, 12_000, 25_000, 50_000, 100_000, 150_000)


@dataclass(frozen=True, slots=True)
class FailureFeatures:
    trace_id: str
    span_id: str
    session_id: str
    started_at_ns: int
    cost_usd: float
    tier: str
    total_tokens: int
    tool_calls: int
    tool_names: tuple[str, ...]
    failed_tools: tuple[str, ...]
    signals: tuple[str, ...]
    error_type: str
    stop_reason: str
    error_text: str
    request_class: str = ""  # Claude Code's hint (main, subagent, compaction, auxiliary, …); "" unknown
    offered_tools: int = 0  # tools the request offered (the proxy's tool_count fact)
    rescued_from: str = ""  # the target a fallback replaced, when one did


TIER_WORDS = ("haiku", "sonnet", "opus")
# a turn's tier when its model is in no price table: no route can choose it
UNKNOWN_TIER = "unknown"


def failed_target(fallback_hops: Collection[str]) -> str | None:
    """The first target a fallback chain tried (``anthropic-opus:timeout`` → ``anthropic-opus``)."""
    first = next(iter(fallback_hops), None)
    return first.rsplit(":", 1)[0] if first else None


def tier_of_target(target: str, target_tiers: Mapping[str, str]) -> str | None:
    """A target's tier from the policies' targets, else the tier word its name carries."""
    if target in target_tiers:
        return target_tiers[target]
    return next((word for word in TIER_WORDS if word in target.lower()), None)


def token_bucket(tokens: int) -> str:
    edge = max((edge for edge in TOKEN_EDGES if tokens > edge), default=0)
    return f">{edge // 1000}K" if edge else f"<={TOKEN_EDGES[0] // 1000}K"


def failure_features(ctx: TurnContext, signals: Collection[str], tier_of: Callable[[str | None], str | None],
                     target_tiers: Mapping[str, str] | None = None) -> FailureFeatures:
    turn = ctx.turn
    tier = tier_of(turn.served_model or turn.requested_model) or UNKNOWN_TIER
    if turn.served_model is None and turn.target:
        # no model served it (an error the chain could not get round): the target the proxy sent it
        # to failed it, not the model the client asked for, which the policy may have rewritten
        tier = tier_of_target(turn.target, target_tiers or {}) or tier
    rescued_from = failed_target(turn.fallback_hops)
    if rescued_from:  # a fallback walked the chain: the failure is the first target's, whoever answered
        tier = tier_of_target(rescued_from, target_tiers or {}) or tier
    reported = ctx.thread.error_ids if ctx.thread is not None else frozenset()
    names = dict(zip(turn.tool_use_ids, turn.tool_use_names, strict=False))
    events = [event for event in ctx.events_for_turn() if event.success is False]
    failed = {names[tool_id] for tool_id in turn.tool_use_ids if tool_id in reported and tool_id in names}
    failed |= {event.tool_name for event in events if event.tool_name}
    texts = [turn.error_message or "", *(event.error or "" for event in events)]
    return FailureFeatures(
        trace_id=turn.trace_id.hex(),
        span_id=turn.span_id.hex(),
        session_id=turn.session_id or turn.span_id.hex(),
        started_at_ns=turn.start_ns,
        cost_usd=ctx.cost_usd,
        tier=tier,
        total_tokens=turn.total_input_tokens or (turn.estimated_input_tokens or 0),
        tool_calls=len(turn.tool_use_ids),
        tool_names=tuple(sorted(set(turn.tool_use_names))),
        failed_tools=tuple(sorted(failed)),
        signals=tuple(sorted(signals)),
        error_type=turn.error_type or "",
        stop_reason=turn.stop_reason or "",
        error_text=" ".join(text for text in texts if text),
        request_class=turn.request_class or "",
        offered_tools=turn.tool_count or 0,
        rescued_from=rescued_from or "",
    )
