"""What a clustering run's read of every turn in its window costs (evals.cluster_tiers needs every
tier's turns): ``store.eval_queries.window_turns`` and ``evals.cluster_runner.population`` on the
store of ``bench/dashboard.py`` (1 M turns over 30 days by default), for a week and for the whole
month, beside the two columns the run read before (when each turn started, its session). Each
reading runs in a process of its own, so its peak memory (max RSS) is its own.

    .venv/bin/python bench/window_read.py [--turns 1000000] [--sqlite-file PATH]

``--sqlite-file`` keeps the filled store and reuses it (the fill takes about 80 s a million turns).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

NOW = datetime(2026, 12, 4, tzinfo=UTC).replace(tzinfo=None)


def measure(path: Path, days: int, reading: str) -> str:
    """One reading in this process: its seconds and the process's peak memory."""
    from sqlalchemy import select

    from core.price_memo import PriceMemo
    from core.pricing import builtin_price_table
    from evals.cluster_runner import population, target_tiers
    from evals.tiers import TierLookup
    from store.engine import make_engine
    from store.eval_queries import window_turns
    from store.frames import schema_of, to_frame
    from store.queries import between
    from store.schema import turns

    engine = make_engine(f"sqlite:///{path}")
    start = NOW - timedelta(days=days)
    began = time.perf_counter()
    if reading == "before":
        columns = [turns.c.started_at, turns.c.session_id]
        with engine.connect() as connection:
            rows = connection.execute(between(select(*columns), turns.c.started_at, start, NOW)).all()
        height = to_frame(rows, schema_of(columns)).height
    else:
        frame = window_turns(engine, start, NOW)
        population(frame, TierLookup(PriceMemo(builtin_price_table())), target_tiers(engine))
        height = frame.height
    seconds = time.perf_counter() - began
    engine.dispose()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return f"| {reading} | {days} days | {height:,} | {seconds:.1f} s | {peak:.0f} MB |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--sqlite-file", type=Path)
    parser.add_argument("--one", nargs=3, metavar=("PATH", "DAYS", "READING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(measure(Path(args.one[0]), int(args.one[1]), args.one[2]), flush=True)
        return
    with tempfile.TemporaryDirectory() as scratch:
        path = (args.sqlite_file or Path(scratch) / "store.db").resolve()
        if not path.exists():
            from bench.dashboard import fill
            from store.engine import make_engine
            from store.migrate import upgrade

            upgrade(f"sqlite:///{path}")
            engine = make_engine(f"sqlite:///{path}")
            print(f"filled {args.turns:,} turns in {fill(engine, args.turns, NOW):.0f} s", flush=True)
            engine.dispose()
        print("| reading | window | turns | time | peak memory |\n|---|---|---|---|---|", flush=True)
        for days, reading in ((7, "window_turns + population"), (30, "window_turns + population"), (30, "before")):
            subprocess.run([sys.executable, __file__, "--one", str(path), str(days), reading], check=True)


if __name__ == "__main__":
    main()
