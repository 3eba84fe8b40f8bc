"""Scale run of the simulated fleet in FAST mode: generate turns into a store through ingest's own
pipeline (ingest.local), then score them all and cluster the failures, printing the rate of each step.

    .venv/bin/python bench/fleet_scale.py --turns 1000000 [--database-url postgresql://…] [--skip-evals]

Without --database-url a fresh SQLite file under a temporary directory is used.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.pricing import builtin_price_table
from evals.cluster_runner import run_clustering
from evals.registry import builtin_evaluators
from evals.runner import run_evals
from ingest.local import LocalIngest, fixed_clock
from sim.fleet import run_fast
from sim.fleet_config import FleetConfig
from store.engine import make_engine
from store.migrate import upgrade

# The default fleet averages about 14.5 turns per session.
TURNS_PER_SESSION = 14.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=100_000, help="about this many turns")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--truth", type=Path, default=None, help="write the ground truth CSV here")
    parser.add_argument("--skip-evals", action="store_true")
    args = parser.parse_args()

    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='fleet-')}/fleet.sqlite3"
    upgrade(url)
    engine = make_engine(url)
    prices = builtin_price_table()
    config = FleetConfig(seed=args.seed, sessions=int(args.turns / TURNS_PER_SESSION), days=args.days)
    # ingested a day after the fleet's window (its last sessions run on for hours): inside ingest's bounds
    writer = LocalIngest(engine, prices=prices, clock=fixed_clock(config.start + timedelta(days=config.days + 1)))
    writing = {"turns": 0.0, "events": 0.0}

    def sink(turns, events):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        writer.write_turns(turns)
        writing["turns"] += time.perf_counter() - started
        started = time.perf_counter()
        writer.write_events(events)
        writing["events"] += time.perf_counter() - started

    started = time.perf_counter()
    summary = run_fast(config, prices, sink, truth_path=args.truth, batch_turns=50_000)
    elapsed = time.perf_counter() - started
    print(f"generated {summary.turns:,} turns ({summary.sessions:,} sessions, {summary.events:,} events) "
          f"in {elapsed:.0f} s = {summary.turns / elapsed:,.0f} turns/s "
          f"(writing turns {writing['turns']:.0f} s, events {writing['events']:.0f} s) into {url}")
    if args.skip_evals:
        return
    started = time.perf_counter()
    report = run_evals(engine, builtin_evaluators(prices))
    elapsed = time.perf_counter() - started
    print(f"scored {report.scored_turns:,} turns ({report.inserted:,} scores) in {elapsed:.0f} s "
          f"= {report.scored_turns / elapsed:,.0f} turns/s")
    started = time.perf_counter()
    window_start = config.start.replace(tzinfo=None)
    run = run_clustering(engine, prices, start=window_start, end=window_start + timedelta(days=config.days))
    elapsed = time.perf_counter() - started
    print(f"clustered {len(run.rows):,} failing turns into {len(run.clusters)} clusters in {elapsed:.0f} s:")
    for cluster in run.clusters:
        counts = " ".join(map(str, cluster.window_counts))
        print(f"  {cluster.size:8,}  ${cluster.cost_usd:10,.2f}  {cluster.trend:8} {counts:24} {cluster.name}")


if __name__ == "__main__":
    main()
