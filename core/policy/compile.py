"""A validated Policy turned into frozen lookup tables that decide() walks without allocating.

What is prepared here, once per policy version:
- the exploration block becomes the first rules, one per segment then its own (exploration.py), so
  it costs decide() what any rule costs and its propensities come out of the same arithmetic;
- targets by name, and every chain as a tuple of Target objects;
- each rule's predicates as specialised closures (predicates.py);
- split arms as normalised cumulative weights, for a bisect on the session's hash;
- sticky pools: the salts of each member, so a chain starting in a pool is reordered per session;
- session buckets as intervals: the distinct bucket bounds of all rules cut 0..99 into a few
  intervals (usually 1–3), each rule admits a bitmask of them; decide() uses that to evaluate the
  rules once and still know which rule every other bucket would have gone to (for propensities);
- per rule, the probability of each first action (target, model) under its split and sticky pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate, permutations
from types import MappingProxyType

from .access import AccessTable, prepare_access
from .budgets import BudgetTable, prepare_budgets
from .exploration import rules_in_order
from .guardrails import GuardrailTable, prepare_guardrails
from .hashing import BUCKETS, Salted, bucket_salt, member_salt, rendezvous_order, salted, split_salt
from .predicates import Check, checks_for
from .problems import PolicyError, Problem, errors_in
from .reachability import bounds_of
from .schema import Policy, Rule, StickyPool, Target
from .validate import validate

Action = tuple[str, str | None]  # (first target's name, model rewrite): what the optimizer replays
DEFAULT_RULE = "default"
_PRECOMPUTED_INTERVALS = 10  # 1024 masks; more intervals are summed per decision
_PRECOMPUTED_POOL_SIZE = 5  # 120 orders; larger pools build their chain per decision


@dataclass(frozen=True, slots=True)
class Chain:
    """A target chain. When its first target is in a sticky pool, the pool's members come first,
    in the session's rendezvous order, followed by the rest of the chain."""

    targets: tuple[Target, ...]
    pool: tuple[Target, ...] = ()
    pool_hashers: tuple[Salted, ...] = ()
    rest: tuple[Target, ...] = ()
    by_order: Mapping[tuple[int, ...], tuple[Target, ...]] | None = None  # a small pool's chain in every order

    def for_session(self, session: bytes) -> tuple[Target, ...]:
        if not self.pool:
            return self.targets
        order = rendezvous_order(self.pool_hashers, session)
        return self.by_order[order] if self.by_order is not None else self.ordered(order)

    def ordered(self, order: Sequence[int]) -> tuple[Target, ...]:
        return tuple([self.pool[i] for i in order]) + self.rest


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a route or one split arm sends a turn."""

    chain: Chain
    model: str | None


@dataclass(frozen=True, slots=True)
class CompiledRule:
    name: str
    checks: tuple[Check, ...]  # every predicate except session_bucket
    bucket_mask: int  # the bucket intervals its session_bucket admits (all of them when unset)
    outcomes: tuple[Outcome, ...]  # one for a route, one per arm for a split
    cumulative: tuple[float, ...]  # split: normalised cumulative weights, the last exactly 1.0
    salt: Salted  # split: hashed with the session id to pick an arm
    shares: Mapping[Action, float]  # probability of each first action when this rule fires


@dataclass(frozen=True, slots=True, eq=False)
class CompiledPolicy:
    policy: Policy
    version: str
    targets: Mapping[str, Target]
    rules: tuple[CompiledRule, ...]
    default: CompiledRule
    # session buckets: interval i is [edges[i], edges[i + 1]); bucket b lies in interval_of[b]
    edges: tuple[int, ...]
    interval_of: tuple[int, ...]
    all_intervals: int  # the mask with every interval's bit set
    bucket_hasher: Salted
    mask_buckets: tuple[int, ...]  # buckets_in(mask) for every mask, when there are few intervals
    budgets: BudgetTable
    access: AccessTable
    guardrails: GuardrailTable
    pool_of: Mapping[str, StickyPool]
    warnings: tuple[Problem, ...]

    def target(self, name: str) -> Target:
        return self.targets[name]

    @property
    def uses_buckets(self) -> bool:
        return self.all_intervals != 1

    def buckets_in(self, mask: int) -> int:
        """How many of the 100 buckets the intervals of ``mask`` hold."""
        if mask < len(self.mask_buckets):
            return self.mask_buckets[mask]
        return sum(self.edges[i + 1] - self.edges[i] for i in range(len(self.edges) - 1) if mask >> i & 1)


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Validate and prepare ``policy``; raises PolicyError listing every error (warnings are kept
    on the result, for the caller to log)."""
    problems = validate(policy)
    if errors_in(problems):
        raise PolicyError(problems, f"policy {policy.version}")
    targets = {t.name: t for t in policy.targets}
    pool_of = {name: pool for pool in policy.sticky for name in pool.targets}
    in_order = rules_in_order(policy)
    edges = _bucket_edges(in_order)
    prepare = _Preparer(targets, pool_of, edges)
    rules = tuple(prepare.rule(rule) for rule in in_order)
    default = prepare.route(DEFAULT_RULE, policy.default.route, policy.default.model, (), prepare.all_intervals)
    interval_of = tuple(_interval_index(edges, bucket) for bucket in range(BUCKETS))
    masks = range(prepare.all_intervals + 1) if len(edges) <= _PRECOMPUTED_INTERVALS + 1 else range(0)
    mask_buckets = tuple(sum(edges[i + 1] - edges[i] for i in range(len(edges) - 1) if m >> i & 1) for m in masks)
    return CompiledPolicy(
        policy=policy, version=policy.version, targets=MappingProxyType(targets), rules=rules, default=default,
        edges=edges, interval_of=interval_of, all_intervals=prepare.all_intervals, bucket_hasher=salted(bucket_salt()),
        mask_buckets=mask_buckets,
        budgets=MappingProxyType(dict(prepare_budgets(policy.budgets, targets))),
        access=prepare_access(policy.model_access, targets),
        guardrails=prepare_guardrails(policy.guardrails), pool_of=MappingProxyType(pool_of),
        warnings=tuple(p for p in problems if p.severity == "warning"),
    )


def _bucket_edges(rules: Sequence[Rule]) -> tuple[int, ...]:
    edges = {0, BUCKETS}
    for rule in rules:
        if rule.when.session_bucket is not None:
            edges.update(bounds_of("session_bucket", rule.when.session_bucket))
    return tuple(sorted(edges))


def _interval_index(edges: tuple[int, ...], bucket: int) -> int:
    return next(i for i in range(len(edges) - 1) if edges[i] <= bucket < edges[i + 1])


class _Preparer:
    def __init__(self, targets: Mapping[str, Target], pool_of: Mapping[str, StickyPool],
                 edges: tuple[int, ...]) -> None:
        self.targets = targets
        self.pool_of = pool_of
        self.edges = edges
        self.all_intervals = (1 << (len(edges) - 1)) - 1

    def rule(self, rule: Rule) -> CompiledRule:
        low, high = bounds_of("session_bucket", rule.when.session_bucket)
        mask = sum(1 << i for i in range(len(self.edges) - 1) if low <= self.edges[i] and self.edges[i + 1] <= high)
        checks = checks_for(rule.when)
        if rule.route is not None:
            return self.route(rule.name, rule.route, rule.model, checks, mask)
        assert rule.split is not None  # validate() guarantees exactly one of route/split
        outcomes = tuple(Outcome(self.chain(arm.route), arm.model or rule.model) for arm in rule.split)
        total = sum(arm.weight for arm in rule.split)
        cumulative = [w / total for w in accumulate(arm.weight for arm in rule.split)]
        cumulative[-1] = 1.0  # no float shortfall can leave a hash above the last arm
        probabilities = [arm.weight / total for arm in rule.split]
        return CompiledRule(rule.name, checks, mask, outcomes, tuple(cumulative), salted(split_salt(rule.name)),
                            _shares(outcomes, probabilities))

    def route(self, name: str, route: Sequence[str], model: str | None, checks: tuple[Check, ...],
              mask: int) -> CompiledRule:
        outcomes = (Outcome(self.chain(route), model),)
        return CompiledRule(name, checks, mask, outcomes, (), None, _shares(outcomes, [1.0]))

    def chain(self, route: Sequence[str]) -> Chain:
        targets = tuple(self.targets[name] for name in route)
        pool = self.pool_of.get(route[0])
        if pool is None:
            return Chain(targets)
        rest = tuple(t for t in targets if t.name not in pool.targets)
        chain = Chain(targets, tuple(self.targets[name] for name in pool.targets),
                      tuple(salted(member_salt(pool.name, name)) for name in pool.targets), rest)
        if len(pool.targets) > _PRECOMPUTED_POOL_SIZE:
            return chain
        orders = {order: chain.ordered(order) for order in permutations(range(len(pool.targets)))}
        return replace(chain, by_order=MappingProxyType(orders))


def _shares(outcomes: Sequence[Outcome], probabilities: Sequence[float]) -> dict[Action, float]:
    """The probability of each first action: an arm's weight share, split evenly across a sticky
    pool's members (rendezvous hashing is uniform over session ids)."""
    shares: dict[Action, float] = {}
    for outcome, probability in zip(outcomes, probabilities, strict=True):
        firsts = outcome.chain.pool or outcome.chain.targets[:1]
        for target in firsts:
            action = (target.name, outcome.model)
            shares[action] = shares.get(action, 0.0) + probability / len(firsts)
    return shares
