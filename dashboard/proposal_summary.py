"""A proposal in plain language: what it changes, what it costs, what it does to quality and on what
scale, why the allowed margin is what it is, and where it stands (decided, by whom, why; superseded,
and by which proposal). Short sentences, one fact each. Pure: it reads the stored evidence (see
optimizer.evidence for its fields) and the rule-level review, and says nothing the evidence lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.policy.rule_diff import RuleDiff
from store.proposals import SUPERSEDED, Proposal

QUALITY_SCALE = ("Quality here is the share of turns with no failing evaluator: 0 to 1, higher is better, "
                 "estimated by replaying the logged turns under each policy.")
_NUMBER = int | float


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, _NUMBER) and not isinstance(value, bool) else None


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: object) -> str | None:
    number = _num(value)
    return None if number is None else f"{number:,.0f}"


def usd(value: float) -> str:
    return f"${abs(value):,.2f}"


def signed(value: float, places: int = 4) -> str:
    """+0.0021 / −0.0009 (a real minus sign: it reads as one in any font)."""
    return f"{'−' if value < 0 else '+'}{abs(value):.{places}f}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def change_sentence(review: RuleDiff | None) -> str | None:
    """"It changes 1 rule, adds 2 and moves 1. The default stays as it is." """
    if review is None:
        return None
    verbs = [("changes", review.count("changed")), ("adds", review.count("added")),
             ("removes", review.count("removed")), ("moves", review.count("moved"))]
    counts = [(verb, count) for verb, count in verbs if count]
    if counts:
        done = [f"{verb} {count}" for verb, count in counts]
        done[0] = f"{counts[0][0]} {_plural(counts[0][1], 'rule')}"
        rules = "It " + (", ".join(done[:-1]) + " and " + done[-1] if len(done) > 1 else done[0]) + "."
    else:
        rules = "It changes no rule."
    default = " It also changes the default route." if review.default_changes else ""
    others = " It changes more than rules too (listed under the diff)." if review.other_lines else ""
    return rules + default + others


def margin_reason(evidence: Mapping[str, Any]) -> str:
    """Why the allowed quality loss is this size, from what the evidence records."""
    recorded = evidence.get("quality_margin_reason")
    if isinstance(recorded, str) and recorded:
        return recorded
    margin = _num(evidence.get("quality_margin"))
    active = _map(_map(evidence.get("baseline")).get("quality_dr"))
    low, high, value = _num(active.get("low")), _num(active.get("high")), _num(active.get("value"))
    if margin is None or low is None or high is None:
        return "The evidence does not record why the margin is this size."
    half = (high - low) / 2
    level = _num(_map(evidence.get("delta_quality")).get("level")) or 0.95
    around = f"{value:.4f} ± {half:.4f}" if value is not None else f"± {half:.4f}"
    if abs(margin - half) <= 1e-9:
        return (f"The margin is the half-width of the active policy's own {level:.0%} interval ({around}). "
                "A smaller loss could not be told apart from the uncertainty in that estimate. "
                "With more or steadier traffic the interval narrows, and so does the margin.")
    if margin < half:
        return (f"The margin is capped at {margin:.4f}, the most quality a proposal may lose. "
                f"The active policy's own {level:.0%} interval is wider ({around}).")
    return (f"The margin is {margin / half:.2g} times the half-width of the active policy's own {level:.0%} "
            f"interval ({around}).")


def summary_sentences(evidence: Mapping[str, Any], review: RuleDiff | None) -> list[str]:
    sentences = [s for s in [change_sentence(review)] if s]
    turns, sessions, days = _count(evidence.get("turns")), _count(evidence.get("sessions")), _num(evidence.get("days"))
    if turns:
        where = f"It was judged on {turns} replayed turns" + (f" in {sessions} sessions" if sessions else "")
        sentences.append(where + (f" over {days:g} days." if days else "."))
    sentences += _cost_sentences(evidence)
    sentences += _quality_sentences(evidence)
    ess, ess_sessions = _count(evidence.get("ess")), _count(evidence.get("ess_sessions"))
    if ess:
        sentences.append(f"The effective sample size is {ess} turns" + (f" ({ess_sessions} sessions)" if ess_sessions
                         else "") + ": how much logged traffic was routed the way the proposal would route it.")
    kept = _num(evidence.get("turns_routed_by_kept_rules"))
    if kept:
        sentences.append(f"Rules kept as written routed {kept:,.0f} turns. They route the same under the proposal "
                         "and are left out of these figures.")
    return sentences + _exploration_sentences(evidence)


def _exploration_sentences(evidence: Mapping[str, Any]) -> list[str]:
    """One per segment the proposal explores more (optimizer.explore_more): too few explored sessions
    backed a change there."""
    asks = evidence.get("exploration_asks")
    fields = {"part", "share", "current_share", "explored_sessions", "needed"}
    return [f"It explores {ask['part']} at {ask['share']:.0%} of their sessions (now {ask['current_share']:.0%}): "
            f"{ask['explored_sessions']} explored sessions backed the change there, {ask['needed']} are needed."
            for ask in (asks if isinstance(asks, list) else [])
            if isinstance(ask, Mapping) and fields <= set(ask)]


def _cost_sentences(evidence: Mapping[str, Any]) -> list[str]:
    delta = _num(evidence.get("delta_monthly_cost_usd"))
    if delta is None:
        return []
    share = _num(evidence.get("delta_cost_share"))
    direction = "falls" if delta < 0 else "rises"
    text = f"Replayed cost {direction} by {usd(delta)} a month" + (f" ({abs(share):.1%})." if share else ".")
    before = _num(_map(evidence.get("baseline")).get("monthly_cost_usd"))
    after = _num(_map(evidence.get("candidate")).get("monthly_cost_usd"))
    if before is not None and after is not None:
        text += f" That is {usd(before)} a month under the active policy and {usd(after)} under the proposal."
    return [text]


def _quality_sentences(evidence: Mapping[str, Any]) -> list[str]:
    quality = _map(evidence.get("delta_quality"))
    value, low, high = _num(quality.get("value")), _num(quality.get("low")), _num(quality.get("high"))
    if value is None:
        return []
    sentences = [QUALITY_SCALE, f"Under the proposal that share changes by {signed(value)} "
                 f"({signed(value * 100, 2)} percentage points)."]
    level = _num(quality.get("level")) or 0.95
    if low is not None and high is not None:
        sentences.append(f"Its {level:.0%} interval runs from {signed(low)} to {signed(high)}.")
    margin = _num(evidence.get("quality_margin"))
    if margin is not None:
        sentences.append(f"The allowed margin is {margin:.4f}: a proposal passes only if the low end of that "
                         f"interval stays above {signed(-margin)}.")
        sentences.append(margin_reason(evidence))
    return sentences


def decision_sentence(proposal: Proposal) -> str:
    """Where the proposal stands, who decided and why (the successor is linked by the page)."""
    created = f"{proposal.created_at:%Y-%m-%d %H:%M} UTC"
    if proposal.status == "proposed":
        return (f"Waiting for a decision since {created}; made by {proposal.created_by} against "
                f"{proposal.parent_version}.")
    when = f"{proposal.decided_at:%Y-%m-%d %H:%M} UTC" if proposal.decided_at else "an unknown time"
    if proposal.status == SUPERSEDED:
        cause = proposal.note or "another version became active"
        return (f"Superseded on {when}: {cause} before anyone decided. It was made against "
                f"{proposal.parent_version}, which no longer routes, so it can no longer be approved.")
    reason = f" Reason: {proposal.note}" if proposal.note else " No reason was given."
    return f"{proposal.status.capitalize()} by {proposal.decided_by} on {when}.{reason}"


def successor_of(proposal: Proposal, proposals: Sequence[Proposal]) -> Proposal | None:
    """The proposal that replaced a superseded one: the first made after it was superseded (the loop
    proposes only when nothing is pending, so that one was made against the version then active)."""
    if proposal.status != SUPERSEDED:
        return None
    since = proposal.decided_at or proposal.created_at
    later = [p for p in proposals if p.id != proposal.id and p.created_at >= since]
    return min(later, key=lambda p: (p.created_at, p.id), default=None)
