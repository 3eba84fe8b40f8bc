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

With a sample split (optimizer.split, on in ``propose``) the guards and the claims are computed on
the held-out sessions, which took no part in choosing the candidate; and every part of the candidate
that moves turns (base thresholds, each override) must rest on at least ``min_explored_sessions``
explored sessions (optimizer.explored), and so must every move within it (each pair of tiers it
re-routes turns between: optimizer.moves), or it is left as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optimizer.explore_more import Thin, thin_of, too_wide
from optimizer.explored import explored_sessions
from optimizer.moves import explored_moves, thin_moves
from optimizer.pruning import feasible, pruned
from optimizer.replay import (
    TIERS,
    ReplayData,
    dr_difference,
    dr_estimate,
    effective_sample_size,
    effective_sessions,
    monthly,
    snips_estimate,
    total_cost,
)
from optimizer.search import SearchResult
from optimizer.segments import RoutingParams, constant_tier

METHOD = ("doubly robust (one seeded gradient-boosted outcome model per tier, logged propensities), "
          "SNIPS alongside; percentile bootstrap over sessions (whole sessions drawn with replacement, "
          "all their turns taken; sessions assumed independent of each other)")
SPLIT_METHOD = ("; sample split by session: the outcome model and the search saw one part of the sessions, the "
                "guards and the claimed saving and quality change are computed on the held-out rest")


@dataclass(frozen=True, slots=True)
class Choice:
    params: RoutingParams | None  # None: nothing to propose (see reason)
    reason: str
    evidence: dict[str, Any]
    # the parts refused for too few explored sessions (of ``params``, or of every candidate looked
    # at when nothing is proposed): where more exploration would settle it (optimizer.explore_more)
    thin: tuple[Thin, ...] = ()


def changes_in_words(baseline: RoutingParams, candidate: RoutingParams) -> str:
    """"Moving the haiku→sonnet threshold 10,000 → 12,000 …; for turns with thinking on: …"."""
    def pair(before: object, after: object, what: str) -> str:
        return f"{what} {before:,} → {after:,}" if before != after else f"{what} {after:,} (unchanged)"
    parts = [f"the haiku→sonnet threshold {baseline.base.haiku_below:,} → {candidate.base.haiku_below:,} and "
             f"sonnet→opus {baseline.base.opus_from:,} → {candidate.base.opus_from:,} estimated input tokens"]
    before = {o.segment: o.thresholds for o in baseline.effective().overrides}
    after = candidate.effective()
    for override in after.overrides:
        old = before.pop(override.segment, baseline.start_of(override.segment))
        if override.segment.kind == "rule":
            parts.append(f"{override.segment.describe()}: {TIERS[constant_tier(old)]} → "
                         f"{TIERS[constant_tier(override.thresholds)]}")
            continue
        parts.append(f"for {override.segment.describe()}: " + ", ".join((
            pair(old.haiku_below, override.thresholds.haiku_below, "haiku below"),
            pair(old.opus_from, override.thresholds.opus_from, "opus from"))))
    parts += [f"{segment.describe()} back to the base thresholds" for segment in before]
    return "; ".join(parts)


def evidence_for(data: ReplayData, result: SearchResult, candidate: RoutingParams, *, seed: int,
                 rounds: int, full: ReplayData | None = None, split: dict[str, Any] | None = None) -> dict[str, Any]:
    """The evidence for ``candidate``, its claims computed on ``data``: the held-out sessions of a
    sample split (optimizer.split), or the whole window without one. ``full`` (default ``data``):
    every turn of the window, for the monthly costs the policies will run at and the counts."""
    full = data if full is None else full
    base_actions = result.baseline.actions(data.tokens, data.facts)
    cand_actions = candidate.actions(data.tokens, data.facts)
    base_cost, cand_cost = total_cost(data, base_actions), total_cost(data, cand_actions)
    # the guard's interval has the search's confidence: two-sided level erf(z/√2) (0.95 for z=1.96)
    level = math.erf(result.z / math.sqrt(2))
    delta = dr_difference(data, cand_actions, base_actions, rounds=rounds, seed=seed, level=level)
    base_quality = dr_estimate(data, base_actions, rounds=rounds, seed=seed)
    cand_snips = snips_estimate(data, cand_actions, rounds=rounds, seed=seed)
    base_snips = snips_estimate(data, base_actions, rounds=rounds, seed=seed)
    margin = result.margin
    ess = effective_sample_size(data, cand_actions)
    ess_sessions = effective_sessions(data, cand_actions)
    saving = 1 - cand_cost / base_cost if base_cost > 0 else 0.0
    full_base = monthly(full, total_cost(full, result.baseline.actions(full.tokens, full.facts)))
    full_cand = monthly(full, total_cost(full, candidate.actions(full.tokens, full.facts)))
    sessions = int(full.sessions.max()) + 1 if full.n else 0
    certified = int(data.sessions.max()) + 1 if data.n else 0
    moved = int((result.baseline.actions(full.tokens, full.facts) != candidate.actions(full.tokens, full.facts)).sum())
    where = (f"on the {certified:,} held-out sessions ({data.n:,} turns) that took no part in choosing it"
             if split is not None else f"on {data.n:,} turns in {sessions:,} sessions")
    rationale = (f"Moving {changes_in_words(result.baseline, candidate)} re-routes {moved:,} of {full.n:,} turns and, "
                 f"{where}, cuts replayed cost by {saving:.1%} (${saving * full_base:,.2f} a month) while "
                 f"quality changes by {delta.value:+.4f} ({level:.0%} CI {delta.low:+.4f} … {delta.high:+.4f}), "
                 f"within the allowed margin of {margin:.4f}; effective sample size {ess:,.0f} turns "
                 f"({ess_sessions:,.0f} sessions).")
    return {
        "method": METHOD + (SPLIT_METHOD if split is not None else ""), "turns": full.n, "sessions": sessions,
        "days": full.days, "seed": seed, "bootstrap_rounds": rounds,
        "trials": len(result.trials) - 1, "ess": ess, "ess_sessions": ess_sessions,
        "agreeing_turns": int((data.logged == cand_actions).sum()),
        "baseline": {"thresholds": result.baseline.effective().to_dict(),
                     "quality_dr": base_quality.to_dict(),
                     "quality_snips": base_snips.to_dict(), "monthly_cost_usd": full_base},
        "candidate": {"thresholds": candidate.effective().to_dict(), "quality_snips": cand_snips.to_dict(),
                      "quality_dr_value": base_quality.value + delta.value,
                      "monthly_cost_usd": full_cand},
        # the claim is the held-out sessions' (the priced monthly costs above are the whole window's)
        "delta_monthly_cost_usd": -saving * full_base, "delta_cost_share": -saving,
        "delta_quality": {**delta.to_dict(), "level": level}, "quality_floor": result.floor, "quality_margin": margin,
        "explored_sessions": explored_sessions(full, result.baseline, candidate),
        "explored_moves": explored_moves(full, result.baseline, candidate),
        **({"split": split} if split is not None else {}),
        "rationale": rationale,
    }


def choose(data: ReplayData, result: SearchResult, *, min_ess: float = 200.0, min_ess_sessions: float = 30.0,
           seed: int = 0, rounds: int = 200, candidates: int = 10, min_override_saving: float = 0.01,
           held: ReplayData | None = None, full: ReplayData | None = None, min_explored_sessions: int = 0,
           split: dict[str, Any] | None = None, thin_candidates: int = 200, min_saving: float = 0.0) -> Choice:
    """The cheapest feasible candidate that passes the guards (looking at up to ``candidates``), less
    the segment overrides that save under ``min_override_saving`` of the active cost (optimizer.pruning)
    and those resting on fewer than ``min_explored_sessions`` explored sessions (optimizer.explored).

    ``data`` is what the search chose on; ``held`` (default ``data``) the held-out sessions the
    guards and the claims are computed on (optimizer.split); ``full`` (default ``data``) every turn.

    After a candidate's bootstrap interval crosses the floor, only candidates the search judged safer
    by at least the gap between its normal-approximation bound and the bootstrap's are looked at: the
    cheapest trials crowd the edge of the floor, and their near-twins would fail the same way, using
    up the look.

    A candidate refused for its thin moves (its policy once they are undone misses the floor, or its
    base thresholds' thin moves cannot be undone) does not use up one of the ``candidates`` looks,
    which bound the bootstraps: no bootstrap was run, and the cheapest trials are often near-twins
    resting on the same thinly explored band, so ten of them can be refused alike while a policy that
    stays out of it waits further down (the segmented fleet: ten twins moving tool-heavy turns opus →
    sonnet on five explored sessions). Up to ``thin_candidates`` of them are looked at; a policy that
    comes out the same once its thin moves are undone is refused once.

    ``min_saving``: a candidate whose held-out saving is under this share of the active cost is
    refused: a near no-op is not worth a review, and where no cheaper policy is safe, the guards'
    margin would otherwise let one through (issue 16's no-cheaper world: 0.0–0.4 % "savings")."""
    held = data if held is None else held
    full = data if full is None else full
    margin = result.margin
    refusals: list[str] = []
    refused_thin: list[Thin] = []
    needed = -math.inf  # the search's lower bound a candidate needs to be worth a bootstrap
    looked = thin_looked = 0
    refused_undone: set[RoutingParams] = set()  # policies refused once their thin moves were undone
    for trial in result.feasible_by_cost():
        if looked == candidates or thin_looked == thin_candidates:
            break
        if trial.delta_low < needed and trial.cost < result.baseline_cost:
            continue
        params = pruned(data, result, trial.params, min_saving=min_override_saving)
        dropped: list[str] = []
        mine: list[Thin] = []
        if min_explored_sessions > 0:
            looked_at = params
            # per move (part × tier pair), not per part: a part's sessions may all stand behind one of
            # its moves while another rests on a handful (optimizer.moves)
            params, dropped, base_thin = thin_moves(full, result.baseline, params, min_explored_sessions,
                                                    negligible=margin / 2)
            if dropped or base_thin:
                thin_looked += 1
                if params in refused_undone:
                    continue
                # where more exploration would settle it (the parts' own counts: optimizer.explore_more)
                mine = thin_of(full, result.baseline, looked_at, min_explored_sessions)
                refused_thin += mine
            if base_thin:
                refused_undone.add(params)
                refusals.append(f"{params.to_dict()}: the base thresholds' change rests on too few explored "
                                "sessions (" + ", ".join(f"{e['move']} on {e['tokens'][0]:,}–{e['tokens'][1]:,} "
                                                        f"tokens: {e['explored_sessions']}" for e in base_thin)
                                + f" < {min_explored_sessions})")
                continue
            if dropped and not feasible(data, result, params):
                refused_undone.add(params)
                refusals.append(f"{params.to_dict()}: without {', '.join(dropped)} it misses the quality floor")
                continue
        looked += 1
        label = params.to_dict()
        if params == result.baseline.effective() or total_cost(data, params.actions(data.tokens, data.facts)) \
                >= result.baseline_cost:
            refusals.append(f"{label}: not cheaper than the active policy"
                            + (f" (once {', '.join(dropped)} was left out)" if dropped else ""))
            if not dropped:
                break  # sorted by cost: nothing after it is cheaper either
            continue
        evidence = evidence_for(held, result, params, seed=seed, rounds=rounds, full=full, split=split)
        if dropped:
            evidence["parts_left_unchanged"] = dropped
        if evidence["delta_cost_share"] >= 0:
            refusals.append(f"{label}: not cheaper on the held-out sessions ({-evidence['delta_cost_share']:+.1%})")
            continue
        if -evidence["delta_cost_share"] < min_saving:
            refusals.append(f"{label}: saves {-evidence['delta_cost_share']:.2%} on the held-out sessions, under the "
                            f"{min_saving:.1%} worth a review")
            continue
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
            value, low = evidence["delta_quality"]["value"], evidence["delta_quality"]["low"]
            if min_explored_sessions > 0 and value + margin > 0:
                # its point estimate clears the floor, its interval does not: more explored sessions
                # behind its moves would narrow it (optimizer.explore_more.too_wide)
                refused_thin += too_wide(full, result.baseline, params, ((value - low) / (value + margin)) ** 2)
            gap = max(trial.delta_low - evidence["delta_quality"]["low"], 0.0)
            needed = max(needed, -margin + gap, trial.delta_low + 1e-12)
            continue
        return Choice(params, "ok", evidence, tuple(mine))
    reason = "; ".join(refusals) or "no candidate met the quality floor"
    return Choice(None, reason, {"refusals": refusals}, tuple(refused_thin))
