"""Segments and re-routable rules on hand-written policies: what the search finds where it could not
before (issue 16, items 1–2), on two small replay worlds the tests share.

* ``thinking_world``: thinking turns need opus, the rest do as well on any tier; with
  ``tool_dense`` a share of the sessions offers 45 tools, so a haiku rule asking ``tool_count < 40``
  (docs/examples/policy.yaml's ``small-turns``) matters. Until session 13 a policy with such a rule
  got no segment search at all.
* ``compaction_world``: a fifth of the sessions are compaction calls, easy on every tier, that a
  rule sends to opus; the rest need sonnet from 20 K. Until session 13 such a rule was kept as
  written.

Both are logged uniformly at random per session (propensity 1/3), 900 sessions of 8 turns.

    .venv/bin/python bench/rule_worlds.py [--seeds 3]

prints, per seed, the saving and the true quality change of the chosen candidate with the search
as before (thresholds only; the rule as written) and as now.
"""

from __future__ import annotations

import argparse

import numpy as np

from optimizer.replay import ReplayData, Thresholds, outcome_model
from optimizer.segments import HaikuLimit, RoutingParams, RuleRoute
from optimizer.turn_facts import TurnFacts

SESSIONS, PER_SESSION = 900, 8


def _data(rng: np.random.Generator, seed: int, tokens: np.ndarray, p: np.ndarray, session: np.ndarray,
          logged: np.ndarray, facts: TurnFacts) -> ReplayData:
    n = tokens.size
    reward = (rng.random(n) < p[np.arange(n), logged]).astype(np.float64)
    cost = tokens[:, None] * np.array([1e-6, 3e-6, 5e-6])
    return ReplayData(tokens=tokens, logged=logged, propensity=np.full(n, 1 / 3), reward=reward, cost=cost,
                      predicted=outcome_model(tokens, logged, reward, seed=seed, facts=facts), days=7.0,
                      session=session, facts=facts)


def thinking_world(seed: int, *, tool_dense: float = 0.0) -> tuple[ReplayData, np.ndarray]:
    """Thinking turns need opus (haiku 0.55, sonnet 0.8, opus 0.95 succeed); the rest do as well on
    any tier (0.95); ``tool_dense`` of the sessions offer 45 tools (17 otherwise). (data, truth n × 3)."""
    rng = np.random.default_rng(seed)
    n = SESSIONS * PER_SESSION
    session = np.repeat(np.arange(SESSIONS), PER_SESSION)
    thinking = np.repeat(rng.random(SESSIONS) < 0.4, PER_SESSION)
    tools = np.full(n, 17)
    if tool_dense:
        tools = np.repeat(np.where(rng.random(SESSIONS) < tool_dense, 45, 17), PER_SESSION)
    tokens = rng.lognormal(9.5, 1.0, n).astype(np.int64) + 1_000
    logged = np.repeat(rng.integers(0, 3, SESSIONS), PER_SESSION).astype(np.int8)
    p = np.where(thinking[:, None], np.array([0.55, 0.8, 0.95]), np.array([0.95, 0.95, 0.95]))
    facts = TurnFacts(thinking, tools, np.full(n, "api", dtype=object))
    return _data(rng, seed, tokens, p, session, logged, facts), p


def compaction_world(seed: int) -> tuple[ReplayData, np.ndarray, RoutingParams]:
    """(data, truth n × 3, the active policy: compaction calls to opus by a rule, the rest haiku
    below 20 K, sonnet to 200 K, opus above)."""
    rng = np.random.default_rng(seed)
    n = SESSIONS * PER_SESSION
    session = np.repeat(np.arange(SESSIONS), PER_SESSION)
    compaction = np.repeat(rng.random(SESSIONS) < 0.2, PER_SESSION)
    tokens = rng.lognormal(9.5, 1.0, n).astype(np.int64) + 1_000
    logged = np.repeat(rng.integers(0, 3, SESSIONS), PER_SESSION).astype(np.int8)
    hard = np.where(tokens[:, None] >= 20_000, np.array([0.6, 0.93, 0.95]), np.array([0.95, 0.95, 0.95]))
    p = np.where(compaction[:, None], np.array([0.97, 0.97, 0.97]), hard)
    facts = TurnFacts(np.zeros(n, dtype=bool), np.full(n, 17), np.full(n, None, dtype=object),
                      request_class=np.where(compaction, "compaction", "main").astype(object),
                      rule=np.where(compaction, "compaction", None).astype(object))
    active = RoutingParams(Thresholds(20_000, 200_000), rules=(RuleRoute("compaction", 2),))
    return _data(rng, seed, tokens, p, session, logged, facts), p, active


def _judged(data: ReplayData, p: np.ndarray, active: RoutingParams, chosen: RoutingParams | None) -> str:
    if chosen is None:
        return "no proposal"
    before, after = active.actions(data.tokens, data.facts), chosen.actions(data.tokens, data.facts)
    rows = np.arange(data.n)
    saving = 1 - data.cost[rows, after].sum() / data.cost[rows, before].sum()
    change = p[rows, after].mean() - p[rows, before].mean()
    return f"saves {saving:5.1%}, true quality {change:+.4f}"


def main() -> None:
    from optimizer.evidence import choose
    from optimizer.search import search

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    for seed in range(21, 21 + args.seeds):
        data, p = thinking_world(seed, tool_dense=0.2)
        active = RoutingParams(Thresholds(10_000, 30_000), haiku_limit=HaikuLimit(tool_count_below=40))
        before = choose(data, search(data, active, trials=60, seed=2, segments=()), seed=2).params
        now = choose(data, search(data, active, trials=60, seed=2), seed=2).params
        print(f"haiku rule with tool_count < 40, seed {seed}: thresholds only {_judged(data, p, active, before)}"
              f" | with segments {_judged(data, p, active, now)}")
    for seed in range(5, 5 + args.seeds):
        data, p, active = compaction_world(seed)
        before = choose(data, search(data, active, trials=40, seed=1, segments=()), seed=1).params
        now = choose(data, search(data, active, trials=40, seed=1), seed=1).params
        print(f"compaction rule to opus, seed {seed}: kept as written {_judged(data, p, active, before)}"
              f" | re-routable {_judged(data, p, active, now)}")


if __name__ == "__main__":
    main()
