"""Turns and events per second written in process: the old direct writer (``store/direct_writes.py``,
loaded from git as it was before it was deleted: its own pricing, no redaction) against
``ingest.local.LocalIngest`` (encode as the proxy / Claude Code → ingest's pipeline → the writer),
side by side on the same simulated fleet records, alternating, each round into a fresh store.

    .venv/bin/python bench/write_path.py [--turns 50000] [--rounds 2] [--postgres] [--baseline REF]

Records are generated once, in memory, before any timing (``sim.fleet.run_fast`` batches of 20 000
turns, as the fleet proofs write them).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.pricing import PriceTable, builtin_price_table  # noqa: E402
from core.spans import Turn  # noqa: E402
from ingest.local import LocalIngest, fixed_clock  # noqa: E402
from sim.fleet import run_fast  # noqa: E402
from sim.fleet_config import FleetConfig  # noqa: E402
from store.engine import make_engine  # noqa: E402
from store.testing import migrated_sqlite_url, throwaway_postgres_schema  # noqa: E402

TURNS_PER_SESSION = 14.5
OLD_PATH = "store/direct_writes.py"

Batch = tuple[list[Turn], list[dict[str, Any]]]
Writer = tuple[Callable[[list[Turn]], object], Callable[[list[dict[str, Any]]], object]]


def baseline_ref() -> str:
    """The commit before the one that deleted the direct writer (or HEAD while it still exists)."""
    last = subprocess.run(["git", "-C", str(ROOT), "rev-list", "-1", "HEAD", "--", OLD_PATH],
                          capture_output=True, text=True, check=True).stdout.strip()
    exists = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{last}:{OLD_PATH}"],
                            capture_output=True).returncode == 0
    ref = last if exists else f"{last}^"
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", ref], capture_output=True, text=True,
                          check=True).stdout.strip()


def load_old(ref: str) -> types.ModuleType:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{OLD_PATH}"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("old_direct_writes")
    exec(compile(source, f"{ref}:{OLD_PATH}", "exec"), module.__dict__)  # our own file, as it was at that commit
    return module


@contextmanager
def fresh_store(postgres: bool) -> Iterator[str]:
    if postgres:
        with throwaway_postgres_schema() as url:
            yield url
    else:
        yield migrated_sqlite_url(Path(tempfile.mkdtemp(prefix="write-path-")))


def old_writer(module: types.ModuleType, engine: Any, prices: PriceTable, at: datetime) -> Writer:
    return (lambda turns: module.write_turn_records(engine, turns, prices, ingested_at=at),
            lambda events: module.write_event_records(engine, events, ingested_at=at))


def new_writer(engine: Any, prices: PriceTable, at: datetime) -> Writer:
    local = LocalIngest(engine, prices=prices, clock=fixed_clock(at))
    return local.write_turns, local.write_events


def timed(batches: list[Batch], writer: Writer) -> tuple[float, float, float]:
    """(turn seconds, event seconds, CPU seconds of this process)."""
    turn_s = event_s = 0.0
    cpu = time.process_time()
    for turns, events in batches:
        began = time.perf_counter()
        writer[0](turns)
        turn_s += time.perf_counter() - began
        began = time.perf_counter()
        writer[1](events)
        event_s += time.perf_counter() - began
    return turn_s, event_s, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=50_000, help="about this many turns")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL (a throwaway schema) instead of SQLite")
    parser.add_argument("--baseline", default=None, help="git ref holding the old direct writer")
    args = parser.parse_args()

    ref = args.baseline or baseline_ref()
    old = load_old(ref)
    prices = builtin_price_table()
    config = FleetConfig(seed=1, sessions=int(args.turns / TURNS_PER_SESSION))
    at = (config.start + timedelta(days=config.days + 1)).replace(tzinfo=None)
    batches: list[Batch] = []
    run_fast(config, prices, lambda turns, events: batches.append((list(turns), list(events))))
    turns = sum(len(t) for t, _ in batches)
    events = sum(len(e) for _, e in batches)
    print(f"{turns:,} turns, {events:,} events in {len(batches)} batches; old = {OLD_PATH} at {ref[:12]}; "
          f"{'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"{'arm':4} {'turns/s':>9} {'events/s':>9} {'CPU µs/turn':>12} {'CPU µs/event':>13}")
    for _ in range(args.rounds):
        for arm in ("old", "new"):
            with fresh_store(args.postgres) as url:
                engine = make_engine(url)
                try:
                    writer = old_writer(old, engine, prices, at) if arm == "old" else new_writer(engine, prices, at)
                    turn_s, event_s, cpu = timed(batches, writer)
                finally:
                    engine.dispose()
            # CPU split between turns and events in proportion to their wall time (one thread)
            share = turn_s / (turn_s + event_s)
            print(f"{arm:4} {turns / turn_s:9,.0f} {events / event_s:9,.0f} {1e6 * cpu * share / turns:12.0f} "
                  f"{1e6 * cpu * (1 - share) / events:13.0f}")


if __name__ == "__main__":
    main()
