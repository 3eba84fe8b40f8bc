"""The optimizer on the simulated fleet, over several seeds: the whole chain (fleet traffic →
store → evals → proposal) and its proposal judged on a fresh fleet by the known truth and by
actually running the next window under it. Settings: bench/optimizer_fleet.py.

    .venv/bin/python bench/optimize_fleet.py [--seeds 5] [--sessions 3000] [--segmented]

``--segmented`` runs sim.fleet_presets.segmented_fleet (thinking, tools offered and repo shape how
hard a turn is), where the optimizer's segment overrides matter; the summary then also shows the
cheapest threshold-only policy's saving.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna

from bench.optimizer_fleet import prove
from core.pricing import builtin_price_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=3_000)
    parser.add_argument("--explore", type=int, default=10, help="exploration share of sessions, %%")
    parser.add_argument("--segmented", action="store_true", help="the segmented fleet instead of the routed one")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prices = builtin_price_table()
    for index in range(args.seeds):
        train, fresh = 100 + 2 * index, 101 + 2 * index
        began = time.perf_counter()
        with tempfile.TemporaryDirectory() as directory:
            proof = prove(Path(directory), prices, train_seed=train, fresh_seed=fresh, sessions=args.sessions,
                          explore=args.explore, segmented=args.segmented)
        print(f"seeds {train}/{fresh} ({time.perf_counter() - began:.0f} s, {proof.turns:,} turns): {proof.summary()}",
              flush=True)


if __name__ == "__main__":
    main()
