"""The spend ledger's memory is bounded: 100 000 turns from 100 000 distinct sessions (and
developers) keep at most ``local_limit`` per-turn records while snapshots lag, none at all when the
proxy has no snapshot source, and the spend a later snapshot reconciles is never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from core.price_memo import PriceMemo
from core.pricing import builtin_price_table
from core.spans import Turn
from proxy.app import ProxyApp
from proxy.ledger import SpendLedger
from proxy.settings import ProxySettings

TURNS = 100_000
MODEL = "claude-sonnet-4-20250514"


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 10, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=5)
        return self.now


START_NS = int(datetime(2026, 11, 10, 12, tzinfo=UTC).timestamp()) * 10**9  # priced at its start date


def _turn(i: int) -> Turn:
    return Turn(trace_id=b"\0" * 16, span_id=b"\0" * 8, start_ns=START_NS, end_ns=START_NS + 1,
                session_id=f"session-{i}", developer=f"dev-{i}", team="payments", requested_model=MODEL,
                input_tokens=1000, output_tokens=100)


def test_lagging_snapshots_keep_at_most_the_limit_and_lose_no_spend() -> None:
    clock = _Clock()
    ledger = SpendLedger(PriceMemo(builtin_price_table()), clock, local_limit=1000)
    per_turn = ledger.accrue(_turn(0))
    assert per_turn > 0
    start = clock.now.timestamp()
    for i in range(1, TURNS):
        ledger.accrue(_turn(i))
        assert len(ledger._local) <= 1000
    # A snapshot from before the first turn covers none of them: every turn still counts once.
    ledger.replace_baseline(ledger.month, {("team", "payments"): Decimal(7)}, as_of=start - 1)
    assert ledger.current()[("2026-11", "team", "payments")] == Decimal(7) + per_turn * TURNS
    assert ledger.current()[("2026-11", "developer", f"dev-{TURNS - 1}")] == per_turn
    # One that covers every turn: the snapshot's balances alone, and the log is empty.
    ledger.replace_baseline(ledger.month, {("team", "payments"): Decimal(9)}, as_of=clock.now.timestamp())
    assert dict(ledger.current()) == {("2026-11", "team", "payments"): Decimal(9)}
    assert len(ledger._local) == 0


def test_a_partly_covering_snapshot_counts_folded_turns_at_least_once() -> None:
    clock = _Clock()
    ledger = SpendLedger(PriceMemo(builtin_price_table()), clock, local_limit=10)
    per_turn = ledger.accrue(_turn(0))
    for i in range(1, 100):
        ledger.accrue(_turn(i))
    as_of = clock.now.timestamp() - 0.2  # the last 40 turns are newer than the snapshot
    ledger.replace_baseline(ledger.month, {}, as_of=as_of)
    team = ledger.current()[("2026-11", "team", "payments")]
    assert per_turn * 40 <= team <= per_turn * 100
    ledger.accrue(_turn(100))
    assert len(ledger._local) <= 10


def test_without_a_snapshot_source_nothing_is_kept_per_turn(tmp_path: Path) -> None:
    app = ProxyApp(ProxySettings(upstream_api_key="sk-test", keys_file=tmp_path / "keys.json", spool_dir=None))
    assert not app.ledger.keep_local
    for i in range(TURNS):
        app.ledger.accrue(_turn(i))
    assert len(app.ledger._local) == 0
    assert app.ledger.current()[(app.ledger.month, "team", "payments")] > 0
    with_snapshot = ProxyApp(ProxySettings(upstream_api_key="sk-test", keys_file=tmp_path / "keys.json",
                                           spool_dir=None, snapshot_url="http://127.0.0.1:9/v1/snapshot"))
    assert with_snapshot.ledger.keep_local
