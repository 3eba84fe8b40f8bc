"""The ``exploration`` block as the rules it stands for, and what can be wrong with it.

The block is shorthand for rules placed before every other rule: one per segment, in order,

    - name: exploration:<segment name, or its position from 1>
      when: {<the segment's predicates>, session_bucket: {lt: segment share × 100}}
      split: <the arms below>

then the block's own

    - name: exploration                       # reserved: Decision.rule says so on every such turn
      when: {session_bucket: {lt: share × 100}}
      split: [{weight: 1, route: [target, …the default route without target]} for each target]

so it compiles into the same tables as any rule (no extra work per turn) and its propensities come
out of the same exact bucket-and-split arithmetic. Each arm falls back along the default route:
an explored turn whose target fails goes where default traffic goes, instead of failing. A session
in a segment is explored at the largest share that covers it (the segment's, another segment's, the
block's): the buckets below the largest are claimed by one of those rules, the others by none. So a
segment's share can only raise its exploration, and validation refuses one below the block's.
"""

from __future__ import annotations

from collections.abc import Iterable

from .hashing import BUCKETS
from .problems import Problem
from .schema import Arm, Exploration, ExplorationSegment, IntRange, Match, Policy, Rule, StickyPool

EXPLORATION_RULE = "exploration"
SEGMENT_PREFIX = "exploration:"  # reserved too: a segment's rule is exploration:<name>
MAX_SHARE = 0.5  # above half, exploration would be the policy rather than a probe of it
_WHOLE = 1e-9  # 0.07 × 100 is 7.000000000000001 in floats: a whole percent, all the same


def is_exploration_rule(name: str | None) -> bool:
    """Whether Decision.rule ``name`` is the block's rule or one of its segments'."""
    return name is not None and (name == EXPLORATION_RULE or name.startswith(SEGMENT_PREFIX))


def segment_rule_name(segment: ExplorationSegment, index: int) -> str:
    return SEGMENT_PREFIX + (segment.name or str(index + 1))


def _arms(policy: Policy, block: Exploration) -> tuple[Arm, ...]:
    return tuple(Arm(weight=1, route=(name, *(t for t in policy.default.route if t != name)))
                 for name in block.targets)


def exploration_rules(policy: Policy) -> tuple[Rule, ...]:
    """The rules the block stands for, in the order decide() tries them: each segment's (share
    above 0), then the block's own (share above 0). Call it on a policy whose block validated."""
    block = policy.exploration
    if block is None:
        return ()
    arms = _arms(policy, block)
    rules = [Rule(name=segment_rule_name(segment, index),
                  when=segment.when.model_copy(update={"session_bucket": IntRange(lt=_percent(segment.share))}),
                  split=arms)
             for index, segment in enumerate(block.segments) if _percent(segment.share) > 0]
    if _percent(block.share) > 0:
        rules.append(Rule(name=EXPLORATION_RULE, when=Match(session_bucket=IntRange(lt=_percent(block.share))),
                          split=arms))
    return tuple(rules)


def exploration_rule(policy: Policy) -> Rule | None:
    """The block's own rule; None without a block or with share 0."""
    return next((rule for rule in exploration_rules(policy) if rule.name == EXPLORATION_RULE), None)


def rules_in_order(policy: Policy) -> tuple[Rule, ...]:
    """Every rule as decide() tries them: the exploration rules, if any, then the policy's own."""
    return (*exploration_rules(policy), *policy.rules)


def _percent(share: float) -> int:
    return round(share * BUCKETS)


def share_problems(path: str, share: float) -> Iterable[Problem]:
    """A share of sessions: 0..MAX_SHARE, in whole percent (a session is picked by its bucket)."""
    if not 0 <= share <= MAX_SHARE:  # also refuses NaN
        yield Problem(path, f"{share} is outside 0..{MAX_SHARE} (a share of sessions)")
    elif abs(share * BUCKETS - _percent(share)) > _WHOLE:
        yield Problem(path, f"{share} is not a whole percent: sessions are picked by their hash "
                      f"bucket, one of {BUCKETS}, so the share moves in steps of 0.01")


def segment_problems(block: Exploration) -> Iterable[Problem]:
    """The segments' own problems (their ``when`` ranges are checked like a rule's, in validate)."""
    names: dict[str, int] = {}
    block_share_ok = not list(share_problems("exploration.share", block.share))
    for index, segment in enumerate(block.segments):
        path = f"exploration.segments[{index}]"
        bad_share = list(share_problems(f"{path}.share", segment.share))
        yield from bad_share
        if not bad_share and block_share_ok and _percent(segment.share) < _percent(block.share):
            yield Problem(f"{path}.share", f"{segment.share} is below the block's share {block.share}: the block "
                          "explores the segment's sessions at its own share all the same")
        if segment.when.session_bucket is not None:
            yield Problem(f"{path}.when.session_bucket", "the segment's share picks its session buckets: "
                          "leave session_bucket out")
        name = segment_rule_name(segment, index)
        if name in names:
            yield Problem(f"{path}.name", f"rule name {name!r} is also segment {names[name] + 1}'s: name them apart")
        names.setdefault(name, index)


def exploration_problems(block: Exploration, targets: set[str], pools: Iterable[StickyPool]) -> Iterable[Problem]:
    yield from share_problems("exploration.share", block.share)
    yield from segment_problems(block)
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
