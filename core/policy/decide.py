"""decide(): the target chain for one turn. Pure and deterministic — the same policy and facts give
the same Decision in every process — so a session's turns land where its prompt cache is, and
the optimizer can replay stored turns against a candidate policy.

Propensity
----------
The optimizer's off-policy estimates weight each stored turn by 1 / P(the action taken). Here the
*action* is the first target of the chain together with the model rewrite, ``(target, model)``,
and the randomness is the session id's hash, which drives three independent choices: the
``session_bucket`` (0..99), the arm of a weighted split, and the member of a sticky pool. So

    propensity = P(action | facts, policy) = Σ over bucket intervals I of |I| / 100 ×
                 P(action | the rule that fires for these facts when the bucket is in I)

where, for the rule that fires, P(action) is the sum of the weight shares of the arms (1 for a
route) whose chain starts with the action, divided by the pool size when that first target is in
a sticky pool. A deterministic route therefore has propensity 1.0; an arm of weight w out of W has
w / W; a 2% exploration rule (the policy's ``exploration`` block compiles into one, placed first,
after one per exploration segment, each with its own share)
above a fixed route gives 0.02 × arm share to the explored action and 0.98 (+ whatever the
exploration also sends there) to the usual one. It is never 0 for the action actually chosen.

Rules are walked once. Each matching rule claims the bucket intervals its ``session_bucket``
admits that no earlier rule claimed; the walk stops when every interval is claimed. Without
bucket predicates there is a single interval, so this is plain first-match.
"""

from __future__ import annotations

from bisect import bisect_right

from .compile import CompiledPolicy, CompiledRule
from .facts import Decision, RouteFacts
from .hashing import session_bucket, session_bytes, unit_hash


def decide(compiled: CompiledPolicy, facts: RouteFacts) -> Decision:
    """The chain, rule, version and propensity for ``facts``: first rule whose predicates all hold
    (a fact the request lacks never satisfies a predicate on it), else the default."""
    if not compiled.uses_buckets:
        for rule in compiled.rules:
            for check in rule.checks:
                if not check(facts):
                    break
            else:
                return _decision(compiled, rule, session_bytes(facts.session_id), None)
        return _decision(compiled, compiled.default, session_bytes(facts.session_id), None)
    return _decide_with_buckets(compiled, facts)


def _decide_with_buckets(compiled: CompiledPolicy, facts: RouteFacts) -> Decision:
    session = session_bytes(facts.session_id)
    actual = 1 << compiled.interval_of[session_bucket(compiled.bucket_hasher, session)]
    unclaimed = compiled.all_intervals
    claims: list[tuple[CompiledRule, int]] = []
    fired = compiled.default
    for rule in compiled.rules:
        claimed = rule.bucket_mask & unclaimed
        if not claimed:
            continue
        for check in rule.checks:
            if not check(facts):
                break
        else:
            claims.append((rule, claimed))
            if claimed & actual:
                fired = rule
            unclaimed &= ~claimed
            if not unclaimed:
                break
    if unclaimed:
        claims.append((compiled.default, unclaimed))
    return _decision(compiled, fired, session, claims)


def _decision(compiled: CompiledPolicy, rule: CompiledRule, session: bytes,
              claims: list[tuple[CompiledRule, int]] | None) -> Decision:
    outcomes = rule.outcomes
    if len(outcomes) == 1:
        outcome = outcomes[0]
    else:
        arm = bisect_right(rule.cumulative, unit_hash(rule.salt, session))
        outcome = outcomes[min(arm, len(outcomes) - 1)]
    chain = outcome.chain.for_session(session)
    action = (chain[0].name, outcome.model)
    propensity = rule.shares[action] if claims is None else _mass(compiled, claims, action)
    return Decision(chain=chain, rule=rule.name, version=compiled.version, propensity=propensity,
                    model=outcome.model)


def _mass(compiled: CompiledPolicy, claims: list[tuple[CompiledRule, int]], action: tuple[str, str | None]) -> float:
    """The probability of ``action`` over every bucket interval: each claim's share of the 100
    buckets times the probability the claiming rule gives the action."""
    buckets = 0.0
    for rule, mask in claims:
        share = rule.shares.get(action)
        if share is not None:
            buckets += compiled.buckets_in(mask) * share
    return min(1.0, buckets / 100)
