"""What budgets cost a turn in the proxy (issue 18): CPU per admission + settlement
(``BudgetGate.admit`` then ``account``, no Redis), side by side in one run, for policies with

* no budgets (the floor: the gate returns at once),
* two monthly budgets (a developer and a team),
* the same plus a daily developer budget and a weekly group pool, for a caller in two groups,
* the same for a caller in 200 groups (an Entra ID maximum) of which one has a pool.

Every admitted turn under a budget also gets the usage-limit headers Claude Code reads; they are
part of what is measured. Medians of ``--rounds`` rounds of ``--turns`` turns each, in random order.

    .venv/bin/python bench/budget_admission.py [--turns 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.facts import RequestFacts
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.load import load_policy
from core.spans import Turn
from proxy.app import ProxyApp
from proxy.routing import Routing, routing_for
from proxy.settings import ProxySettings

BASE = """
version: bench
targets: [{name: up, base_url: "https://api.anthropic.com", model: claude-sonnet-4-5}]
default: {route: [up]}
"""
# Limits far above what the run spends: every turn is admitted and settled.
MONTHLY = """budgets:
  - {scope: developer, name: "*", monthly_usd: 100000000}
  - {scope: team, name: "*", monthly_usd: 100000000}
"""
PERIODS = MONTHLY + """  - {scope: developer, name: "*", period: day, limit_usd: 100000000}
  - {scope: group, name: eng, period: week, limit_usd: 100000000}
"""
CASES = {
    "no budgets": (BASE, ("eng", "all")),
    "2 monthly budgets": (BASE + MONTHLY, ("eng", "all")),
    "+ daily + weekly group pool (2 groups)": (BASE + PERIODS, ("eng", "all")),
    "+ daily + weekly group pool (200 groups)": (BASE + PERIODS, (*(f"g{i}" for i in range(199)), "eng")),
}


def _request() -> RequestFacts:
    fields: dict[str, object] = dict.fromkeys(RequestFacts.__dataclass_fields__)
    fields.update(model="claude-sonnet-4-5", estimated_input_tokens=20_000, max_tokens=1_000, tool_count=15,
                  thinking=False)
    return RequestFacts(**fields)  # type: ignore[arg-type]


async def _round(app: ProxyApp, routing: Routing, facts: RouteFacts, turns: int) -> float:
    request = _request()
    decision = decide(routing.compiled, facts)
    now = time.time_ns()
    turn = Turn(trace_id=b"\0" * 16, span_id=b"\0" * 8, start_ns=now, end_ns=now + 1, developer="alice",
                team="payments", requested_model="claude-sonnet-4-5", input_tokens=100, output_tokens=10)
    started = time.process_time()
    for _ in range(turns):
        admitted = await app.budgets.admit(routing, facts, decision, request)
        await app.budgets.account(turn, admitted[3])
    return (time.process_time() - started) / turns * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ProxySettings(upstream_api_key="sk-bench", keys_file=Path(tmp) / "keys.json",  # type: ignore[arg-type]
                                 spool_dir=None)
        setups = []
        for name, (text, groups) in CASES.items():
            app = ProxyApp(settings)
            routing = routing_for(load_policy(text), {"default": "sk-bench"}, passthrough=False)
            facts = RouteFacts(input_tokens=20_000, tool_count=15, developer="alice", team="payments",
                               session_id="bench", groups=groups)
            setups.append((name, app, routing, facts))
        results: dict[str, list[float]] = {name: [] for name in CASES}
        order = random.Random(0)
        for _ in range(args.rounds):
            order.shuffle(setups)
            for name, app, routing, facts in setups:
                results[name].append(asyncio.run(_round(app, routing, facts, args.turns)))
    floor = statistics.median(results["no budgets"])
    print(f"{'policy':44} {'µs/turn':>8} {'over no budgets':>16}")
    for name in CASES:
        median = statistics.median(results[name])
        print(f"{name:44} {median:8.1f} {median - floor:+15.1f}")


if __name__ == "__main__":
    main()
