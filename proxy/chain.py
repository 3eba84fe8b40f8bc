"""Walking a decision's target chain: fallback happens only before the first byte reaches the
client, on the statuses and failure kinds the policy names, at most ``max_hops`` attempts in all,
at most one retry per target, passing over targets whose circuit is open.

Every step is a hop, ``name:outcome`` in route order: a status, a failure kind (``timeout``,
``connect``), or ``breaker_open`` for a target passed over because its circuit was open (recorded
when the walk goes on to a later target). So the first hop always names the decided target, and a
turn the primary's open circuit sent to a fallback is told apart from one the policy sent there
(the optimizer counts both against the decided tier: optimizer.features.attribute_fallbacks).

When the chain is exhausted the last upstream answer is relayed unmodified (status, body,
``retry-after``); when no upstream answered at all the client gets an Anthropic-shaped 529. Either
way ``x-switchyard-fallback`` lists what was tried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.policy.schema import Fallback, Target

from .breaker import CircuitBreaker
from .errors import ProxyError, UpstreamFailure
from .relay import HeldResponse

FALLBACK_HEADER = b"x-switchyard-fallback"
# The hop of a target passed over because its circuit was open (``name:breaker_open``).
BREAKER_OPEN = "breaker_open"

# One attempt at a target: (target, hold_statuses, extra_headers) -> the answer held back (its status
# is in hold_statuses), or the status relayed to the client. Raises UpstreamFailure when the target
# failed before answering.
Attempt = Callable[[Target, frozenset[int], list[tuple[bytes, bytes]]], Awaitable[HeldResponse | int]]
Respond = Callable[[HeldResponse, list[tuple[bytes, bytes]]], Awaitable[None]]


@dataclass(slots=True)
class ChainOutcome:
    served_by: Target | None = None
    hops: list[str] = field(default_factory=list)
    status: int = 0  # what the client was answered (0: nothing relayed; the proxy answered itself)

    @property
    def fallback_hops(self) -> tuple[str, ...]:
        """The hops the turn records (``switchyard.fallback_hops``): all of them once the walk went
        past its first step; none when that step served the turn (a lone hop only names the target)."""
        return tuple(self.hops) if len(self.hops) > 1 else ()


def _plan(chain: tuple[Target, ...], fallback: Fallback, breaker: CircuitBreaker) -> list[tuple[Target, bool]]:
    """The walk's steps in route order, each ``(target, tried)``: a target whose circuit is closed is
    tried (1 + ``retries_per_target`` times), one whose circuit is open is passed over; if every one
    is open, the first is tried anyway (better a likely failure than a certain one). At most
    ``max_hops`` tries: the steps after the last are dropped."""
    ready = [breaker.available(t.name) for t in chain]
    if chain and not any(ready):
        ready[0] = True
    steps: list[tuple[Target, bool]] = []
    tries = 0
    for target, closed in zip(chain, ready, strict=True):
        if not closed:
            steps.append((target, False))
            continue
        for _ in range(1 + fallback.retries_per_target):
            if tries == fallback.max_hops:
                return steps
            steps.append((target, True))
            tries += 1
    return steps


def _cooldown(fallback: Fallback, retry_after_s: float | None) -> float:
    if fallback.honour_retry_after and retry_after_s is not None:
        return max(fallback.cooldown_s, min(retry_after_s, fallback.max_retry_after_s))
    return fallback.cooldown_s


async def walk_chain(
    chain: tuple[Target, ...], fallback: Fallback, breaker: CircuitBreaker, attempt: Attempt, respond: Respond,
) -> ChainOutcome:
    outcome = ChainOutcome()
    steps = _plan(chain, fallback, breaker)
    fallback_statuses = frozenset(fallback.on_status)
    last_held: HeldResponse | None = None
    last_failure: UpstreamFailure | None = None
    skip: str | None = None  # a target that asked us to wait (retry-after): no immediate retry
    passed: list[str] = []  # open circuits passed over since the last try: recorded before the next one
    tried = 0
    for index, (target, closed) in enumerate(steps):
        if not closed:
            passed.append(f"{target.name}:{BREAKER_OPEN}")
            continue
        if target.name == skip:
            continue
        # Passed-over targets are hops too, in route order, so the first hop always names the
        # decided target: a turn the primary's open circuit sent to a fallback reads as one.
        outcome.hops.extend(passed)
        passed.clear()
        tried += 1
        # Hold back a fallback-worthy answer while there is somewhere else to go; if the rest of
        # the chain is then skipped, the held answer is still relayed unmodified at the end.
        more = any(later and t.name != skip for t, later in steps[index + 1:])
        hold = fallback_statuses if more else frozenset()
        trail = [(FALLBACK_HEADER, ",".join(outcome.hops).encode())] if outcome.hops else []
        try:
            answered = await attempt(target, hold, trail)
        except UpstreamFailure as failure:
            outcome.hops.append(f"{target.name}:{failure.kind}")
            breaker.trip(target.name, fallback.cooldown_s)
            allowed = (failure.kind == "timeout" and fallback.on_timeout) or (
                failure.kind != "timeout" and fallback.on_connect_error)
            if not allowed:
                raise
            last_failure = failure
            continue
        if isinstance(answered, HeldResponse):
            held = answered
            outcome.hops.append(f"{target.name}:{held.status}")
            breaker.trip(target.name, _cooldown(fallback, held.retry_after_s))
            if held.retry_after_s and fallback.honour_retry_after:
                skip = target.name
            last_held = held
            continue
        outcome.hops.append(f"{target.name}:{answered}")
        outcome.status = answered
        if answered < 400:
            breaker.close(target.name)
        elif answered in fallback_statuses:
            breaker.trip(target.name, fallback.cooldown_s)
        outcome.served_by = target
        return outcome
    trail = [(FALLBACK_HEADER, ",".join(outcome.hops).encode())]
    if last_held is not None:
        outcome.status = last_held.status
        await respond(last_held, trail)
        return outcome
    if last_failure is not None and tried == 1:
        # Nowhere to fall back to: say plainly what happened to the one upstream (502/504).
        last_failure.headers = trail
        raise last_failure
    message = "no upstream could be reached"
    if last_failure is not None:
        message += f" (last: {last_failure.message})"
    raise ProxyError("overloaded_error", message, status=529, headers=trail)
