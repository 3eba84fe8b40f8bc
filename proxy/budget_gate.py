"""Budgets on the request path: a turn's admission against the budgets that apply to it, counting
the turns in flight (each reserves its worst-case cost, core/policy/reservations.py), and its real
cost settled into the spend when it ends — in this proxy's ledger and, when several proxies share
Redis, atomically there too (proxy/shared_spend.py). Redis trouble never takes the gateway down:
each call is bounded, and budgets then run on this proxy's own view (fail open), counted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from redis.exceptions import RedisError

from core.facts import RequestFacts
from core.keys import KeyRecord
from core.policy.budgets import (
    Calendar,
    all_verdicts,
    applicable,
    blocking_limits,
    budget_keys,
    budget_verdict,
    calendar_for,
)
from core.policy.facts import Decision, RouteFacts
from core.policy.reservations import committed, worst_case_usd
from core.policy.usage_limits import PERIOD_WORDS, cap_refusal, usage_document, usage_headers
from core.price_memo import PriceMemo, turn_day
from core.spans import Turn

from .errors import ProxyError
from .ledger import Hold, SpendLedger, principals
from .metrics import ProxyMetrics
from .routing import Routing
from .settings import ProxySettings
from .shared_spend import SharedSpend, new_reservation_id

log = logging.getLogger("switchyard.proxy")
T = TypeVar("T")
BUDGET_HEADER = b"x-switchyard-budget"
Headers = list[tuple[bytes, bytes]]
# (decision, budget state, x-switchyard-budget header, hold, usage-limit headers for a success)
Admitted = tuple[Decision, str | None, Headers, Hold | None, Headers]


class BudgetGate:
    def __init__(self, settings: ProxySettings, prices: PriceMemo, ledger: SpendLedger,
                 metrics: ProxyMetrics, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.clock = clock
        self._calendar: Calendar | None = None  # today's period buckets and resets (UTC)
        self.prices = prices
        self.ledger = ledger
        self.metrics = metrics
        self.shared: SharedSpend | None = None
        self.failures = 0
        self._releasing: set[asyncio.Task[None]] = set()  # reservations given back after a refusal

    def start(self) -> Coroutine[Any, Any, None] | None:
        """Open the Redis client when one is configured; the returned coroutine warms its
        connections (run it in the background: a Redis that is down never delays start-up)."""
        if not self.settings.redis_url:
            return None
        self.shared = SharedSpend(self.settings.redis_url, timeout_s=self.settings.redis_timeout_s,
                                  reservation_ttl_s=self.settings.budget_reservation_ttl_s)
        return self._call(self.shared.connect(), "connect")  # type: ignore[return-value]

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    async def _call(self, call: Awaitable[T], name: str) -> T | None:
        """A Redis call that must not take the gateway down with it: bounded by
        SWITCHYARD_REDIS_TIMEOUT_S; on failure budgets fall back to this proxy's own view (fail
        open), and the failure is counted (on /metrics, by call) and logged."""
        try:
            return await call
        except (RedisError, OSError, TimeoutError) as exc:
            self.failures += 1
            self.metrics.redis_failures.labels(call=name).inc()
            if self.failures in (1, 10, 100) or self.failures % 1000 == 0:
                log.warning("shared budget store unavailable (%s); using local spend", type(exc).__name__)
            return None

    async def admit(self, routing: Routing, facts: RouteFacts, decision: Decision, request: RequestFacts
                    ) -> Admitted:
        """Admission against the budgets of every period, counting the turns in flight: the turn is
        judged on spent plus reserved, and when admitted reserves its worst-case cost against each
        of its spend keys, in one step with the check (synchronous here; one Lua script on Redis).
        Soft threshold: a response header (and a span event). Hard: block (ProxyError 429
        ``billing_error``), or downgrade. Every admitted turn a budget applies to gets the
        usage-limit headers Claude Code shows. Without budgets: no work."""
        compiled = routing.compiled
        if not compiled.policy.budgets:
            return decision, None, [], None, []
        now = self.clock()
        calendar = self._calendar = calendar_for(now, self._calendar)
        buckets = calendar.buckets
        applied = tuple(applicable(compiled.budgets, facts))
        keys = budget_keys(compiled.budgets, facts, buckets, applied)
        day = turn_day(time.time_ns())
        models = [decision.model_for(target) or request.model for target in decision.chain]
        usd = worst_case_usd(models, request.estimated_input_tokens, request.max_tokens,
                             lambda model, usage: self.prices.cost(model, usage, day).usd,
                             self.settings.budget_reservation_cap_usd)
        # this proxy's view: the snapshot's balances, its own turns since (or the fleet's spend as
        # Redis last said, when more), its own turns in flight
        local = committed(keys, self.ledger.spent(keys), self.ledger.reserved)
        view, shared_id = local, None
        store = self.shared
        if store is not None and keys:
            limits = blocking_limits(compiled.budgets, facts, buckets, applied)
            reservation = new_reservation_id()
            answer = await self._call(store.reserve(keys, usd, limits, local, reservation), "reserve")
            if answer is not None:
                self.ledger.saw_shared(answer.spent)
                shared = committed(keys, answer.spent, answer.reserved)
                view = {key: max(shared[key], local[key]) for key in keys}  # as the script judged it
                shared_id = reservation if answer.admitted else None
            else:  # fail open, on this proxy's view (fresh: the await took time); the script may have
                # run before the call timed out, so the turn still settles the id (a no-op if it did not)
                view = committed(keys, self.ledger.spent(keys), self.ledger.reserved)
                shared_id = reservation
        verdict = budget_verdict(compiled, facts, view, calendar, applied)
        blocked = verdict.state == "hard" and not (verdict.action == "downgrade" and verdict.downgrade_to is not None)
        if blocked:
            if store is not None and shared_id is not None:  # one may exist (a failed call may have run):
                # give it back, without keeping the 429 waiting on a Redis that just failed
                task = asyncio.create_task(self._call(store.settle(keys, shared_id, Decimal(0)), "settle"))
                self._releasing.add(task)
                task.add_done_callback(self._releasing.discard)
            hold = None
        else:
            hold = self.ledger.hold(keys, usd)
            hold.shared = shared_id
        if verdict.budget is None:
            return decision, None, [], hold, []
        usage = [] if blocked else usage_headers(verdict)
        if verdict.state == "ok":
            return decision, None, [], hold, usage
        described = (f"{verdict.scope} {verdict.principal}: ${verdict.spent:.2f} of ${verdict.limit:.2f} "
                     f"({PERIOD_WORDS[verdict.budget.cadence]})")
        header = [(BUDGET_HEADER, f"{verdict.state}; {described}".encode())]
        if verdict.state != "hard":
            return decision, "soft", header, hold, usage
        if not blocked:
            assert verdict.downgrade_to is not None
            downgraded = Decision(chain=(verdict.downgrade_to,), rule=f"budget-downgrade:{verdict.scope}",
                                  version=decision.version, propensity=1.0)
            return downgraded, "hard", header, hold, usage
        refusal = cap_refusal(verdict, now)
        raise ProxyError("billing_error", refusal.message, status=429, headers=[*header, *refusal.headers])

    def usage(self, routing: Routing, record: KeyRecord | None) -> dict[str, object]:
        """``GET /api/oauth/usage`` for a caller: its budgets (developer, team, groups) as this proxy
        sees them (its own turns, the snapshot's balances and the fleet's spend as Redis last
        reported it: no Redis call of its own), the binding one first."""
        facts = RouteFacts(developer=record.developer if record else None, team=record.team if record else None,
                           groups=record.groups if record else ())
        calendar = self._calendar = calendar_for(self.clock(), self._calendar)
        keys = budget_keys(routing.compiled.budgets, facts, calendar.buckets)
        view = committed(keys, self.ledger.spent(keys), self.ledger.reserved)
        verdicts = all_verdicts(routing.compiled, facts, view, calendar)
        month = self.ledger.spent(keys[:1])[keys[0]] if keys and keys[0][1] == "developer" else Decimal(0)
        return usage_document(verdicts, month)

    async def account(self, turn: Turn, hold: Hold | None) -> None:
        """The turn's real cost into the spend: its reservation (if it took one) settled to it, here
        and on Redis; a turn without usage costs 0, which releases the reservation."""
        usd = self.ledger.accrue(turn) if hold is None else self.ledger.settle(hold, turn)
        if self.shared is None:
            return
        if hold is not None and hold.shared is not None:
            await self._call(self.shared.settle(hold.keys, hold.shared, usd), "settle")
        elif usd:
            keys = hold.keys if hold is not None else principals(self.ledger.month, turn.developer, turn.team,
                                                                  turn.repo)
            await self._call(self.shared.add(keys, usd), "add")

    async def release(self, hold: Hold) -> None:
        """Give a reservation back unsettled, here and on Redis (the turn's cost is unknown)."""
        self.ledger.release(hold)
        if hold.shared is not None and self.shared is not None:
            await self._call(self.shared.settle(hold.keys, hold.shared, Decimal(0)), "settle")
