"""A turn's routing decision in one sentence, from the fields the proxy stored with it:

    rule small-turns fired: 14 203 estimated tokens → haiku tier; primary 529 → secondary (policy v7)

Pure: the turn is a mapping of stored turn fields; the tier comes from the one tier function
(core.pricing.PriceTable.tier_of, the same as routing's and the evaluators'), so no policy document
is needed to explain an old turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.pricing import PriceTable


def grouped(number: int) -> str:
    """14203 → "14 203" (thousands separated by a space, as people write token counts)."""
    return f"{number:,}".replace(",", " ")


def hop_trail(hops: Sequence[str]) -> str:
    """["primary:529", "secondary:200"] → "primary 529 → secondary": each failed attempt with what
    went wrong, then the target that answered (its status only when it failed too)."""
    steps = []
    for index, hop in enumerate(hops):
        target, _, outcome = hop.rpartition(":") if ":" in hop else (hop, "", "")
        last = index == len(hops) - 1
        succeeded = last and outcome.isdigit() and int(outcome) < 400
        steps.append(target if succeeded or not outcome else f"{target} {outcome}")
    return " → ".join(steps)


def explain_decision(turn: Mapping[str, Any], prices: PriceTable) -> str:
    rule = turn.get("rule")
    head = f"rule {rule} fired" if rule else "no routing rule recorded"
    estimated = turn.get("estimated_input_tokens")
    model = turn.get("served_model") or turn.get("requested_model")
    tier = prices.tier_of(model)
    destination = f"{tier} tier" if tier else f"target {turn.get('target') or 'unknown'}"
    reason = f"{grouped(int(estimated))} estimated tokens → {destination}" if estimated is not None else destination
    hops = list(turn.get("fallback_hops") or ())
    route = hop_trail(hops) if hops else f"served by {turn.get('target') or 'unknown target'}, no fallback"
    text = f"{head}: {reason}; {route}"
    if turn.get("policy_version"):
        text += f" (policy {turn['policy_version']})"
    if turn.get("ok") is False:
        text += f"; failed: {turn.get('error_type') or turn.get('status_code')}"
    return text
