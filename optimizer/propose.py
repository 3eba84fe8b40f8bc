"""From the store to a stored proposal: load the window's scored turns, replay them, search the
thresholds (base and segment overrides), pick a candidate that passes the guards, rewrite the active
policy's threshold and segment rules and store the candidate with its PolicyDiff and evidence, status "proposed".

This is the optimizer's only I/O module besides features (reads); everything it calls is pure.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import polars as pl
from sqlalchemy import Engine

from core.policy.diff import diff, render_diff
from core.policy.problems import Problem, errors_in
from core.policy.schema import Policy
from core.policy.validate import validate
from core.price_memo import PerToken, per_token_of
from core.pricing import PriceEntry, PriceTable
from optimizer.candidate import NotAThresholdPolicyError, has_tier, params_of, with_params
from optimizer.cluster_evidence import clusters_addressed
from optimizer.evidence import Choice, choose
from optimizer.explore_more import DEFAULT_CAP, arms_of, exploration_asks, monthly_words, tier_targets, with_exploration
from optimizer.features import NOT_QUALITY, load_turns
from optimizer.kept_rules import (
    check_order,
    check_reading,
    kept_evidence,
    pinned,
    routing_rules,
    rule_column,
    rule_evidence,
)
from optimizer.replay import REQUIRED, TIERS, ReplayData, dr_estimate, prepare
from optimizer.search import Progress, search
from optimizer.segments import RoutingParams
from optimizer.split import held_out_sessions
from store.errors import NotFoundError
from store.policies import active_policy, get_version
from store.proposals import Proposal, StaleParentError, create_proposal

log = logging.getLogger("switchyard.optimizer")


class InvalidCandidateError(RuntimeError):
    """The optimizer wrote a candidate the policy validator refuses: a bug in the candidate writer,
    never something to store (approval would answer 409 and the loop would wait on it)."""

    def __init__(self, version: str, problems: list[Problem]) -> None:
        super().__init__(f"candidate {version} is not a valid policy: " + "; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    start: datetime
    end: datetime
    seed: int = 0
    trials: int = 150
    min_ess: float = 200.0
    min_ess_sessions: float = 30.0
    cache_aware: bool = True  # price the prompt-cache writes a candidate's tier switches cause
    slack: float = 1.0  # the floor is the active quality minus slack × its CI half-width …
    max_quality_loss: float | None = 0.01  # … but never more than this (None: no cap)
    z: float = 1.96  # the floor applies to the candidate's lower bound this many standard errors down
    bootstrap_rounds: int = 200
    evaluators: tuple[str, ...] | None = None  # the quality evaluators (None: every one not excluded)
    excluded_evaluators: tuple[str, ...] = NOT_QUALITY
    database_url: str | None = None  # Optuna's shared storage; in memory without it
    study_name: str | None = None
    # an invalid candidate is a bug: "raise" fails the run (tests, direct callers); "skip" logs it
    # and stores nothing (the CLI and the loop, which must keep running)
    on_invalid: Literal["raise", "skip"] = "raise"
    # a turn a fallback hop served counts against the tier its policy decided, with at most this
    # reward (optimizer.features.attribute_fallbacks); None: as logged (the rescuing tier's success)
    fallback_reward: float | None = 0.0
    # sample splitting (optimizer.split): this share of the sessions, by a hash seeded with ``seed``,
    # is held out of the outcome model and the search and certifies the candidate (0: no split)
    held_out_share: float = 0.5
    # every part of a candidate that moves turns rests on at least this many explored sessions
    min_explored_sessions: int = 10
    # a candidate saving less than this share of the active cost (on the held-out sessions) is not
    # proposed: a near no-op is not worth a review (optimizer.evidence.choose)
    min_saving: float = 0.01
    # developer → tier name (``switchyard optimize --developer-tiers FILE``): a segment per tier
    developer_tiers: Mapping[str, str] | None = None
    # a part refused for too few explored sessions asks for its segment to be explored at up to
    # this share of its sessions (optimizer.explore_more); 0: never ask
    max_exploration_share: float = DEFAULT_CAP
    # write those asks into the proposal (or, with no routing change, store an exploration-only one);
    # off: they are only reported in the evidence. Off by default for library callers (benchmarks,
    # proofs) that judge every proposal as a routing change; ``switchyard optimize`` turns it on
    propose_exploration: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    proposal: Proposal | None
    reason: str  # "ok", or why nothing was proposed
    evidence: Mapping[str, Any]
    diff_text: str | None
    turns: int  # in the window
    usable: int  # scored, with a propensity
    # why nothing was stored when something was found: "invalid" (a writer bug, logged) or "stale"
    # (the active version changed while the optimizer ran: run it again); None otherwise
    skipped: Literal["invalid", "stale"] | None = None


def tier_rates(policy: Policy, prices: PriceTable, day: datetime) -> dict[str, PerToken]:
    """The per-token rates of each tier (from the one pricing function): the model of the policy's
    first target on that tier, else the newest price the table has for the tier (a policy need not
    name every tier)."""
    entries: dict[str, PriceEntry] = {}
    for target in policy.targets:
        if target.tier is not None and target.model and target.tier not in entries:
            entry = prices.lookup(target.model, day.date())
            if entry is not None:
                entries[target.tier] = entry
    for tier in TIERS:
        if tier not in entries:
            candidates = [e for e in prices.entries
                          if e.tier == tier and not e.fallback and e.effective_from <= day.date()]
            if not candidates:
                raise NotFoundError(f"no price for any {tier} model on {day.date()}")
            entries[tier] = max(candidates, key=lambda e: e.effective_from)
    return {tier: per_token_of(entry) for tier, entry in entries.items()}


def candidate_version(parent: str, params: RoutingParams) -> str:
    overrides = len(params.effective().overrides)
    suffix = f"+{overrides}seg" if overrides else ""
    return f"{parent}.opt-{params.base.haiku_below}-{params.base.opus_from}{suffix}"[:128]


def candidate_problems(candidate: Policy) -> list[Problem]:
    """The errors the admin API would refuse ``candidate`` with (core.policy.validate, and a version
    that names one URL path segment)."""
    problems = errors_in(validate(candidate))
    if "/" in candidate.version:
        problems.insert(0, Problem("version", "must not contain '/': a version names a URL path segment"))
    return problems


def _fresh_version(engine: Engine, candidate: Policy) -> Policy:
    """``candidate``, renamed when its version is already stored with another document (a proposal
    with the same thresholds that was approved and rolled back, with other segment rules): versions
    are immutable, so approving it would be refused."""
    try:
        stored = get_version(engine, candidate.version)
    except NotFoundError:
        return candidate
    document = candidate.model_dump(mode="json")
    if dict(stored.document) == document:
        return candidate
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:8]
    return candidate.model_copy(update={"version": f"{candidate.version[:119]}.{digest}"})


def prepare_frame_split(frame: pl.DataFrame, settings: Settings) -> np.ndarray:
    """Per row of ``frame`` as optimizer.replay.prepare keeps it: whether it is held out
    (optimizer.split); rows prepare drops never reach the mask, so they are dropped here first."""
    kept = frame.drop_nulls(list(REQUIRED)).filter(
        pl.col("tier").is_in(TIERS) & (pl.col("propensity") > 0) & (pl.col("propensity") <= 1))
    ids = kept["session_id"].to_list() if "session_id" in kept.columns else [None] * kept.height
    return held_out_sessions(ids, seed=settings.seed, share=settings.held_out_share)


def propose(engine: Engine, prices: PriceTable, settings: Settings, *, actor: str = "optimizer",
            progress: Progress | None = None) -> Outcome:
    active = active_policy(engine)
    if active is None:
        raise NotFoundError("no active policy to improve on")
    policy = active.policy()
    try:  # any valid policy is a starting point, or the reason it is not
        baseline = params_of(policy)
        check_order(policy)
        check_reading(policy, baseline)
    except NotAThresholdPolicyError as refused:
        return Outcome(None, f"nothing the optimizer can move in {policy.version}: {refused}", {}, None, 0, 0)
    loaded = load_turns(engine, prices, settings.start, settings.end, evaluators=settings.evaluators,
                        excluded=settings.excluded_evaluators, fallback_reward=settings.fallback_reward)
    if loaded.usable == 0:
        return Outcome(None, "no scored turns with a propensity in the window", {}, None, loaded.turns, 0)
    # turns a rule kept as written routes go the same way under any candidate: out of the replay;
    # those a re-routable rule routes stay in it, tagged with the rule (TurnFacts.rule)
    routed = routing_rules(policy, loaded.frame)
    kept_mask, kept_counts = pinned(policy, routed)
    frame = loaded.frame.with_columns(pl.Series("rule", rule_column(policy, routed).tolist(), dtype=pl.Utf8))
    frame = frame.filter(pl.Series(~kept_mask)) if kept_mask.any() else frame
    if frame.height == 0:
        return Outcome(None, "every scored turn is routed by a rule kept as written", {}, None, loaded.turns,
                       loaded.usable)
    held = prepare_frame_split(frame, settings)
    data = prepare(frame, tier_rates(policy, prices, settings.end), days=loaded.days, seed=settings.seed,
                   cache_aware=settings.cache_aware, held_out=held)
    selection, certify = (data.subset(~held), data.subset(held)) if held.any() else (data, data)
    split = None if not held.any() else {
        "held_out_share": settings.held_out_share, "seed": settings.seed,
        "selection_sessions": int(np.unique(selection.sessions).size), "selection_turns": selection.n,
        "held_out_sessions": int(np.unique(certify.sessions).size), "held_out_turns": certify.n}
    # the floor's margin from the active policy's interval on every turn, not on the selection part
    half_width = None if split is None else dr_estimate(data, baseline.actions(data.tokens, data.facts),
                                                        rounds=settings.bootstrap_rounds, seed=settings.seed).half_width
    result = search(selection, baseline, trials=settings.trials, seed=settings.seed,
                    database_url=settings.database_url,
                    study_name=settings.study_name, slack=settings.slack, z=settings.z,
                    max_quality_loss=settings.max_quality_loss,
                    bootstrap_rounds=settings.bootstrap_rounds,
                    progress=progress, developer_tiers=settings.developer_tiers, baseline_half_width=half_width,
                    tiers=[TIERS.index(tier) for tier in TIERS if has_tier(policy, tier)])
    choice = choose(selection, result, min_ess=settings.min_ess, min_ess_sessions=settings.min_ess_sessions,
                    seed=settings.seed, rounds=settings.bootstrap_rounds, held=certify, full=data,
                    min_explored_sessions=settings.min_explored_sessions, split=split, min_saving=settings.min_saving)
    asks = [] if settings.max_exploration_share <= 0 else exploration_asks(
        data, result.baseline, choice.thin, arms_of(policy), min_sessions=settings.min_explored_sessions,
        cap=settings.max_exploration_share)
    if choice.params is None:
        if not asks or not settings.propose_exploration:
            return Outcome(None, choice.reason, {**choice.evidence, **({"exploration_asks": asks} if asks else {})},
                           None, loaded.turns, loaded.usable)
        explore = _fresh_version(engine, with_exploration(policy, asks, tier_targets(policy)).model_copy(
            update={"version": f"{policy.version}.explore-{len(asks)}seg"[:128]}))
        return _store(engine, policy, explore, exploration_evidence(choice, asks, data, loaded.turns, settings),
                      settings, actor, loaded.turns, loaded.usable)
    evidence = {**choice.evidence, "window": {"start": settings.start.isoformat(), "end": settings.end.isoformat()},
                "turns_in_window": loaded.turns, "kept_as_written": kept_evidence(policy, kept_counts),
                "turns_routed_by_kept_rules": int(kept_mask.sum()),
                "fallback_turns_counted_against_primary": loaded.fell_back,
                "clusters": clusters_addressed(engine, prices, policy, baseline, choice.params)}
    taken = [entry for entry in evidence["kept_as_written"] if entry["turns"]]
    if taken:
        evidence["rationale"] = (f"{evidence.get('rationale', '')} Rules kept as written routed "
                                 f"{evidence['turns_routed_by_kept_rules']:,} turns (" +
                                 ", ".join(f"{entry['rule']} {entry['turns']:,}" for entry in taken) +
                                 "); they route the same under the candidate and are left out of these "
                                 "figures.").strip()
    if evidence["clusters"]:
        top = evidence["clusters"][0]
        evidence["rationale"] = (f"{evidence.get('rationale', '')} Of the failure clusters, it re-routes most turns of "
                                 f"\"{top['name']}\" ({top['moved']:,} of {top['size']:,}).").strip()
    if asks:
        evidence["exploration_asks"] = asks
        evidence["rationale"] = (f"{evidence.get('rationale', '')} Left unchanged for too few explored sessions, "
                                 + ("so explored more: " if settings.propose_exploration else "more exploration "
                                    "would settle it: ") + "; ".join(ask["words"] for ask in asks) + ".").strip()
    # the rationale lives in the evidence, not the description: the diff shows the rules only
    written = with_params(policy, choice.params, candidate_version(policy.version, choice.params))
    if baseline.rules:
        evidence["reroutable_rules"] = rule_evidence(policy, written, routed)
    if asks and settings.propose_exploration:
        written = with_exploration(written, asks, tier_targets(policy))
    return _store(engine, policy, _fresh_version(engine, written), evidence, settings, actor, loaded.turns,
                  loaded.usable, params=choice.params)


def exploration_evidence(choice: Choice, asks: list[dict[str, Any]], data: ReplayData, turns: int,
                         settings: Settings) -> dict[str, Any]:
    """The evidence of a proposal that only explores more: what was refused, and each ask."""
    cost = sum(ask["monthly_cost_usd"] for ask in asks)
    return {**choice.evidence, "kind": "exploration", "exploration_asks": asks, "delta_monthly_cost_usd": cost,
            "turns": data.n, "sessions": int(np.unique(data.sessions).size), "days": data.days,
            "turns_in_window": turns, "window": {"start": settings.start.isoformat(), "end": settings.end.isoformat()},
            "rationale": ("No routing change passed the guards (the refusals say why); where one was refused for "
                          f"too few explored sessions (at least {settings.min_explored_sessions} needed), exploring "
                          "more: " + "; ".join(ask["words"] for ask in asks) + f". Together it {monthly_words(cost)}.")}


def _store(engine: Engine, policy: Policy, candidate: Policy, evidence: dict[str, Any], settings: Settings,
           actor: str, turns: int, usable: int, params: RoutingParams | None = None) -> Outcome:
    """Validate ``candidate`` as the admin API would (and, for a routing change, that its rules read
    as ``params``), then store it as a proposal."""
    change = diff(policy, candidate)
    problems = candidate_problems(candidate)
    if not problems and params is not None:
        try:
            check_reading(candidate, params.effective())
        except NotAThresholdPolicyError as mismatch:  # the writer wrote something the replay did not price
            problems = [Problem("rules", str(mismatch))]
    if problems:
        invalid = InvalidCandidateError(candidate.version, problems)
        if settings.on_invalid == "raise":
            raise invalid
        log.error("optimizer bug, nothing stored: %s (params %s)", invalid, params.to_dict() if params else None)
        return Outcome(None, f"the candidate is not a valid policy (an optimizer bug, logged): {invalid}", evidence,
                       render_diff(change), turns, usable, skipped="invalid")
    try:
        proposal = create_proposal(engine, parent_version=policy.version, candidate_version=candidate.version,
                                   document=candidate.model_dump(mode="json"), diff=change.to_dict(),
                                   evidence=evidence, actor=actor, require_active_parent=True)
    except StaleParentError as stale:
        return Outcome(None, f"{stale} (it changed while the optimizer ran): run it again", evidence,
                       render_diff(change), turns, usable, skipped="stale")
    return Outcome(proposal, "ok", evidence, render_diff(change), turns, usable)
