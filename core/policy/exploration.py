"""The ``exploration`` block as the rule it stands for, and what can be wrong with it.

The block is shorthand for a rule placed before every other rule:

    - name: exploration                       # reserved: Decision.rule says so on every such turn
      when: {session_bucket: {lt: share × 100}}
      split: [{weight: 1, route: [target, …the default route without target]} for each target]

so it compiles into the same tables as any rule (no extra work per turn) and its propensities come
out of the same exact bucket-and-split arithmetic. Each arm falls back along the default route:
an explored turn whose target fails goes where default traffic goes, instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable

from .hashing import BUCKETS
from .problems import Problem
from .schema import Arm, Exploration, IntRange, Match, Policy, Rule, StickyPool

EXPLORATION_RULE = "exploration"
MAX_SHARE = 0.5  # above half, exploration would be the policy rather than a probe of it
_WHOLE = 1e-9  # 0.07 × 100 is 7.000000000000001 in floats: a whole percent, all the same


def exploration_rule(policy: Policy) -> Rule | None:
    """The rule the block stands for; None without a block or with share 0. Call it on a policy
    whose block validated (a share of NaN or 0.025 has no rule)."""
    block = policy.exploration
    if block is None or _percent(block.share) == 0:
        return None
    arms = tuple(Arm(weight=1, route=(name, *(t for t in policy.default.route if t != name)))
                 for name in block.targets)
    return Rule(name=EXPLORATION_RULE, when=Match(session_bucket=IntRange(lt=_percent(block.share))), split=arms)


def rules_in_order(policy: Policy) -> tuple[Rule, ...]:
    """Every rule as decide() tries them: the exploration rule, if any, then the policy's own."""
    rule = exploration_rule(policy)
    return policy.rules if rule is None else (rule, *policy.rules)


def _percent(share: float) -> int:
    return round(share * BUCKETS)


def exploration_problems(block: Exploration, targets: set[str], pools: Iterable[StickyPool]) -> Iterable[Problem]:
    share = block.share
    if not 0 <= share <= MAX_SHARE:  # also refuses NaN
        yield Problem("exploration.share", f"{share} is outside 0..{MAX_SHARE} (a share of sessions)")
    elif abs(share * BUCKETS - _percent(share)) > _WHOLE:
        yield Problem("exploration.share", f"{share} is not a whole percent: sessions are picked by their hash "
                      f"bucket, one of {BUCKETS}, so the share moves in steps of 0.01")
    pool_of = {name: pool for pool in pools for name in pool.targets}
    first_in_pool: dict[str, str] = {}
    for index, name in enumerate(block.targets):
        path = f"exploration.targets[{index}]"
        if name not in targets:
            yield Problem(path, f"unknown target {name!r}")
        elif block.targets.index(name) != index:
            yield Problem(path, f"target {name!r} is listed twice: its arm would get twice the weight")
        elif name in pool_of:
            pool = pool_of[name].name
            if pool in first_in_pool:
                # a chain starting in a pool starts at the session's own member, whichever member it names
                yield Problem(path, f"target {name!r} shares sticky pool {pool!r} with {first_in_pool[pool]!r}: "
                              "both arms go to the session's member of the pool", "warning")
            first_in_pool.setdefault(pool, name)
