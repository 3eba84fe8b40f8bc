"""Pick the candidate worth proposing from a search, and the evidence a reviewer reads. Pure.

The search keeps candidates whose *point* estimate clears the quality floor. Before one is
proposed it must also clear two guards, checked on the cheapest feasible candidates in turn:

* enough evidence: the effective sample size of the logged turns that agree with the candidate
  is at least ``min_ess``, and counted in sessions (a session's turns are not independent evidence)
  at least ``min_ess_sessions``;
* the quality change (candidate − active, paired session bootstrap) has its whole interval above the
  floor's margin: −(the active estimate's half-width × slack, see optimizer.search). An interval that crosses it means
  the data cannot tell the candidate from a regression.

And it must be cheaper than the active policy, or there is nothing to propose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optimizer.pruning import pruned
from optimizer.replay import (
    ReplayData,
    dr_difference,
    effective_sample_size,
    effective_sessions,
    monthly,
    snips_estimate,
    total_cost,
)
from optimizer.search import SearchResult
from optimizer.segments import RoutingParams

METHOD = ("doubly robust (one seeded gradient-boosted outcome model per tier, logged propensities), "
          "SNIPS alongside; percentile bootstrap over sessions (whole sessions drawn with replacement, "
          "all their turns taken; sessions assumed independent of each other)")


@dataclass(frozen=True, slots=True)
class Choice:
    params: RoutingParams | None  # None: nothing to propose (see reason)
    reason: str
    evidence: dict[str, Any]


def changes_in_words(baseline: RoutingParams, candidate: RoutingParams) -> str:
    """"Moving the haiku→sonnet threshold 10,000 → 12,000 …; for turns with thinking on: …"."""
    def pair(before: object, after: object, what: str) -> str:
        return f"{what} {before:,} → {after:,}" if before != after else f"{what} {after:,} (unchanged)"
    parts = [f"the haiku→sonnet threshold {baseline.base.haiku_below:,} → {candidate.base.haiku_below:,} and "
             f"sonnet→opus {baseline.base.opus_from:,} → {candidate.base.opus_from:,} estimated input tokens"]
    before = {o.segment: o.thresholds for o in baseline.effective().overrides}
    after = candidate.effective()
    for override in after.overrides:
        old = before.pop(override.segment, baseline.base)
        parts.append(f"for {override.segment.describe()}: " + ", ".join((
            pair(old.haiku_below, override.thresholds.haiku_below, "haiku below"),
            pair(old.opus_from, override.thresholds.opus_from, "opus from"))))
    parts += [f"{segment.describe()} back to the base thresholds" for segment in before]
    return "; ".join(parts)


def evidence_for(data: ReplayData, result: SearchResult, candidate: RoutingParams, *, seed: int,
                 rounds: int) -> dict[str, Any]:
    base_actions = result.baseline.actions(data.tokens, data.facts)
    cand_actions = candidate.actions(data.tokens, data.facts)
    base_cost, cand_cost = total_cost(data, base_actions), total_cost(data, cand_actions)
    # the guard's interval has the search's confidence: two-sided level erf(z/√2) (0.95 for z=1.96)
    level = math.erf(result.z / math.sqrt(2))
    delta = dr_difference(data, cand_actions, base_actions, rounds=rounds, seed=seed, level=level)
    cand_snips = snips_estimate(data, cand_actions, rounds=rounds, seed=seed)
    base_snips = snips_estimate(data, base_actions, rounds=rounds, seed=seed)
    margin = result.margin
    ess = effective_sample_size(data, cand_actions)
    ess_sessions = effective_sessions(data, cand_actions)
    saving = 1 - cand_cost / base_cost if base_cost > 0 else 0.0
    sessions = int(data.sessions.max()) + 1 if data.n else 0
    moved = int((base_actions != cand_actions).sum())
    rationale = (f"Moving {changes_in_words(result.baseline, candidate)} re-routes {moved:,} of {data.n:,} turns and "
                 f"cuts replayed cost by {saving:.1%} (${monthly(data, base_cost - cand_cost):,.2f} a month) while "
                 f"quality changes by {delta.value:+.4f} ({level:.0%} CI {delta.low:+.4f} … {delta.high:+.4f}), "
                 f"within the allowed margin of {margin:.4f}; {data.n:,} turns in {sessions:,} sessions, effective "
                 f"sample size {ess:,.0f} turns ({ess_sessions:,.0f} sessions).")
    return {
        "method": METHOD, "turns": data.n, "sessions": sessions,
        "days": data.days, "seed": seed, "bootstrap_rounds": rounds,
        "trials": len(result.trials) - 1, "ess": ess, "ess_sessions": ess_sessions,
        "agreeing_turns": int((data.logged == cand_actions).sum()),
        "baseline": {"thresholds": result.baseline.effective().to_dict(),
                     "quality_dr": result.baseline_quality.to_dict(),
                     "quality_snips": base_snips.to_dict(), "monthly_cost_usd": monthly(data, base_cost)},
        "candidate": {"thresholds": candidate.effective().to_dict(), "quality_snips": cand_snips.to_dict(),
                      "quality_dr_value": result.baseline_quality.value + delta.value,
                      "monthly_cost_usd": monthly(data, cand_cost)},
        "delta_monthly_cost_usd": monthly(data, cand_cost - base_cost), "delta_cost_share": -saving,
        "delta_quality": {**delta.to_dict(), "level": level}, "quality_floor": result.floor, "quality_margin": margin,
        "rationale": rationale,
    }


def choose(data: ReplayData, result: SearchResult, *, min_ess: float = 200.0, min_ess_sessions: float = 30.0,
           seed: int = 0, rounds: int = 200, candidates: int = 10, min_override_saving: float = 0.01) -> Choice:
    """The cheapest feasible candidate that passes the guards (looking at up to ``candidates``), less
    the segment overrides that save under ``min_override_saving`` of the active cost (optimizer.pruning).

    After a candidate's bootstrap interval crosses the floor, only candidates the search judged safer
    by at least the gap between its normal-approximation bound and the bootstrap's are looked at: the
    cheapest trials crowd the edge of the floor, and their near-twins would fail the same way, using
    up the look."""
    margin = result.margin
    refusals: list[str] = []
    needed = -math.inf  # the search's lower bound a candidate needs to be worth a bootstrap
    looked = 0
    for trial in result.feasible_by_cost():
        if looked == candidates:
            break
        if trial.delta_low < needed and trial.cost < result.baseline_cost:
            continue
        looked += 1
        params = pruned(data, result, trial.params, min_saving=min_override_saving)
        label = params.to_dict()
        if params == result.baseline.effective() or trial.cost >= result.baseline_cost:
            refusals.append(f"{label}: not cheaper than the active policy")
            break  # sorted by cost: nothing after it is cheaper either
        evidence = evidence_for(data, result, params, seed=seed, rounds=rounds)
        if evidence["ess"] < min_ess:
            refusals.append(f"{label}: ESS {evidence['ess']:.0f} < {min_ess:.0f}")
            continue
        if evidence["ess_sessions"] < min_ess_sessions:
            refusals.append(f"{label}: ESS in sessions {evidence['ess_sessions']:.0f} < "
                            f"{min_ess_sessions:.0f}")
            continue
        if evidence["delta_quality"]["low"] < -margin:
            refusals.append(f"{label}: quality interval low end "
                            f"{evidence['delta_quality']['low']:+.4f} crosses the floor margin {-margin:+.4f}")
            gap = max(trial.delta_low - evidence["delta_quality"]["low"], 0.0)
            needed = max(needed, -margin + gap, trial.delta_low + 1e-12)
            continue
        return Choice(params, "ok", evidence)
    reason = "; ".join(refusals) or "no candidate met the quality floor"
    return Choice(None, reason, {"refusals": refusals})
