"""The ledger's reservations: a hold counts until it is settled (to the real cost) or released,
exactly once, and a released principal leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.price_memo import PriceMemo
from core.pricing import builtin_price_table
from core.spans import Turn
from proxy.ledger import SpendLedger

START_NS = int(datetime(2026, 11, 10, 12, tzinfo=UTC).timestamp()) * 10**9
KEYS = (("2026-11", "developer", "alice"), ("2026-11", "team", "payments"))


def _ledger() -> SpendLedger:
    return SpendLedger(PriceMemo(builtin_price_table()), lambda: datetime(2026, 11, 10, 12, tzinfo=UTC),
                       keep_local=False)


def _turn(output_tokens: int = 100) -> Turn:
    return Turn(trace_id=b"\0" * 16, span_id=b"\0" * 8, start_ns=START_NS, end_ns=START_NS + 1,
                developer="alice", team="payments", requested_model="claude-sonnet-4-5",
                input_tokens=1000, output_tokens=output_tokens)


def test_holds_add_up_and_release_exactly_once() -> None:
    ledger = _ledger()
    first, second = ledger.hold(KEYS, Decimal("0.25")), ledger.hold(KEYS, Decimal("0.5"))
    assert ledger.reserved == dict.fromkeys(KEYS, Decimal("0.75"))
    ledger.release(first)
    ledger.release(first)  # an error path releasing "just in case" takes nothing more
    assert ledger.reserved == dict.fromkeys(KEYS, Decimal("0.5"))
    ledger.release(second)
    assert ledger.reserved == {}  # nothing left per principal: the map does not grow with principals


def test_settle_replaces_the_reservation_with_the_real_cost() -> None:
    ledger = _ledger()
    hold = ledger.hold(KEYS, Decimal("1"))
    usd = ledger.settle(hold, _turn())
    assert usd == ledger.cost(_turn()) and usd > 0
    assert ledger.reserved == {}
    assert ledger.current() == dict.fromkeys(KEYS, usd)
    ledger.release(hold)  # the finally after a settle: a no-op
    assert ledger.reserved == {} and ledger.current() == dict.fromkeys(KEYS, usd)


def test_a_zero_hold_touches_nothing() -> None:
    ledger = _ledger()
    hold = ledger.hold(KEYS, Decimal(0))
    assert ledger.reserved == {}
    ledger.release(hold)
    assert ledger.reserved == {}


def test_the_fleet_spend_redis_reported_counts_when_larger_and_only_grows() -> None:
    ledger = _ledger()
    ledger.accrue(_turn())
    own = ledger.current()[KEYS[0]]
    assert ledger.spent(KEYS) == dict.fromkeys(KEYS, own)
    ledger.saw_shared({KEYS[0]: Decimal(5)})
    assert ledger.spent(KEYS) == {KEYS[0]: Decimal(5), KEYS[1]: own}
    ledger.saw_shared({KEYS[0]: Decimal(1)})  # an older answer arriving late never lowers it
    assert ledger.spent(KEYS)[KEYS[0]] == Decimal(5)
