"""Which failure clusters a proposal addresses: for each cluster of the latest clustering run, how
many of its member turns the candidate would route to another tier, and which way. A reviewer reads
"haiku · large context · Edit fails: 212 of 240 turns move haiku → sonnet" next to the cost and
quality change. Counting is pure (:func:`addressed`); :func:`clusters_addressed` does the read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, select

from core.policy.schema import Policy
from core.pricing import PriceTable
from optimizer.kept_rules import pinned, routing_rules, rule_column
from optimizer.replay import TIERS, Thresholds
from optimizer.segments import RoutingParams
from optimizer.turn_facts import TurnFacts
from store.cluster_runs import clusters_frame, latest_run_id
from store.schema import failure_cluster_members, turns

# the columns optimizer.kept_rules.routing_rules asks decide() about
_MEMBER_SCHEMA = {"tokens": pl.Int64, "thinking": pl.Boolean, "tool_count": pl.Int64, "repo": pl.String,
                  "request_class": pl.String, "agent_type": pl.String, "team": pl.String, "developer": pl.String,
                  "requested_tier": pl.String}


def addressed(names: dict[int, str], sizes: dict[int, int], members: Sequence[tuple[int, int]],
              baseline: Thresholds | RoutingParams, candidate: Thresholds | RoutingParams, *,
              facts: TurnFacts | None = None, limit: int = 5) -> list[dict[str, Any]]:
    """``members`` is (cluster, estimated input tokens) per clustered turn, ``facts`` their routing
    facts (needed when a side has segment overrides). Clusters with at least one turn re-routed,
    most re-routed first."""
    if not members:
        return []
    clusters = np.array([cluster for cluster, _ in members])
    tokens = np.array([count for _, count in members], dtype=np.int64)
    before = RoutingParams.of(baseline).actions(tokens, facts)
    after = RoutingParams.of(candidate).actions(tokens, facts)
    found = []
    for cluster in sorted(set(clusters.tolist())):
        mine = clusters == cluster
        moved = mine & (before != after)
        if not moved.any():
            continue
        moves = Counter(f"{TIERS[b]} → {TIERS[a]}" for b, a in zip(before[moved], after[moved], strict=True))
        found.append({"cluster": cluster, "name": names.get(cluster, f"cluster {cluster}"),
                      "size": sizes.get(cluster, int(mine.sum())), "moved": int(moved.sum()),
                      "moves": dict(moves.most_common())})
    found.sort(key=lambda item: (-item["moved"], item["cluster"]))
    return found[:limit]


def clusters_addressed(engine: Engine, prices: PriceTable, policy: Policy, baseline: RoutingParams,
                       candidate: RoutingParams) -> list[dict[str, Any]]:
    """:func:`addressed` on the latest clustering run's members, routed as the replay routes them:
    a member a rule kept as written routes (``policy``'s pins) moves under no candidate and is left
    out; one a re-routable rule routes carries the rule (TurnFacts.rule)."""
    run_id = latest_run_id(engine)
    if run_id is None:
        return []
    frame = clusters_frame(engine, run_id)
    names = dict(zip(frame["cluster"].to_list(), frame["name"].to_list(), strict=True))
    sizes = dict(zip(frame["cluster"].to_list(), frame["size"].to_list(), strict=True))
    query = (select(failure_cluster_members.c.cluster, turns.c.estimated_input_tokens, turns.c.thinking,
                    turns.c.tool_count, turns.c.repo, turns.c.request_class, turns.c.agent_type, turns.c.team,
                    turns.c.developer, turns.c.requested_model)
             .join(turns, (turns.c.trace_id == failure_cluster_members.c.trace_id)
                   & (turns.c.span_id == failure_cluster_members.c.span_id))
             .where(failure_cluster_members.c.run_id == run_id, turns.c.estimated_input_tokens.is_not(None)))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    requested = {model: prices.tier_of(model) for model in {row[9] for row in rows if row[9]}}
    frame = pl.DataFrame([{"tokens": row[1], "thinking": bool(row[2]), "tool_count": row[3] or 0, "repo": row[4],
                           "request_class": row[5], "agent_type": row[6], "team": row[7], "developer": row[8],
                           "requested_tier": requested.get(row[9])} for row in rows],
                         schema=_MEMBER_SCHEMA)
    routed = routing_rules(policy, frame)
    kept, _ = pinned(policy, routed)
    rows = [row for row, pin in zip(rows, kept.tolist(), strict=True) if not pin]
    rule = rule_column(policy, routed)[~kept]
    members = [(int(row[0]), int(row[1])) for row in rows]
    def column(index: int) -> np.ndarray:
        return np.array([row[index] for row in rows], dtype=object)

    facts = TurnFacts(np.array([bool(row[2]) for row in rows], dtype=bool),
                      np.array([row[3] or 0 for row in rows], dtype=np.int64), column(4), request_class=column(5),
                      agent_type=column(6), team=column(7), developer=column(8), rule=rule)
    return addressed(names, sizes, members, baseline, candidate, facts=facts)
