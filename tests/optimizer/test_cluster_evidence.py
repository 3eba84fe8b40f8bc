"""Which failure clusters a proposal re-routes: counted per cluster, most moved first; read from
a store, members routed as the replay routes them (pins never move, a re-routed rule's turns do)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from bench.optimizer_world import generate, turn_records
from core.policy.load import load_policy
from core.pricing import builtin_price_table
from optimizer.candidate import params_of
from optimizer.cluster_evidence import addressed, clusters_addressed
from optimizer.replay import Thresholds
from optimizer.segments import TIER_THRESHOLDS, Override, Segment
from store.cluster_runs import write_cluster_run
from store.engine import make_engine
from store.testing import migrated_sqlite_url
from tests.optimizer.stored import store_world

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policy.yaml"

BASELINE, CANDIDATE = Thresholds(10_000, 30_000), Thresholds(12_000, 60_000)


def test_counts_moved_turns_per_cluster_and_direction() -> None:
    members = [(1, 11_000), (1, 11_500), (1, 9_000),  # 11 K was sonnet, becomes haiku; 9 K stays haiku
               (2, 40_000), (2, 50_000), (2, 70_000),  # two move opus → sonnet, one stays opus
               (3, 20_000)]  # sonnet before and after: not addressed
    found = addressed({1: "small edits", 2: "large bash", 3: "mid"}, {1: 30, 2: 3, 3: 1}, members, BASELINE,
                      CANDIDATE)
    assert [c["name"] for c in found] == ["small edits", "large bash"]  # a tie on moved turns: cluster order
    by_name = {c["name"]: c for c in found}
    assert by_name["small edits"] == {"cluster": 1, "name": "small edits", "size": 30, "moved": 2,
                                      "moves": {"sonnet → haiku": 2}}
    assert by_name["large bash"]["moves"] == {"opus → sonnet": 2} and by_name["large bash"]["moved"] == 2
    assert "mid" not in by_name


def test_most_moved_first_and_limited() -> None:
    members = [(c, 40_000) for c in range(8) for _ in range(c + 1)]
    found = addressed({}, {}, members, BASELINE, CANDIDATE, limit=3)
    assert [c["cluster"] for c in found] == [7, 6, 5]
    assert found[0]["name"] == "cluster 7" and found[0]["size"] == 8


def test_nothing_clustered_nothing_addressed() -> None:
    assert addressed({}, {}, [], BASELINE, CANDIDATE) == []


def test_stored_members_route_as_the_replay_routes_them(tmp_path: Path) -> None:
    """Through a store: a cluster of compaction calls moves when the candidate re-routes the rule
    that routes them; a cluster a pin (a repo rule) routes never moves, whatever the thresholds."""
    policy = load_policy(EXAMPLE.read_text())
    policy = policy.model_copy(update={"rules": tuple(rule.model_copy(update={"route": ("opus", "sonnet-us")})
                                                      if rule.name == "compaction" else rule for rule in policy.rules)})
    prices = builtin_price_table()
    engine = make_engine(migrated_sqlite_url(tmp_path))
    try:
        world = generate(policy, prices, turns=400, seed=3, compaction_every=5)
        records = turn_records(world)
        plain = [r for r in records if r.request_class is None]
        pinned_ids = {(r.trace_id, r.span_id) for r in plain[:10]}
        store_world(engine, world, prices, edit=lambda rs: [replace(r, repo="auth-service")
                                                            if (r.trace_id, r.span_id) in pinned_ids else r
                                                            for r in rs])
        groups = {0: [r for r in records if r.request_class == "compaction"][:20], 1: plain[:10], 2: plain[10:30]}
        write_cluster_run(engine, [
            {"run_id": "r", "cluster": n, "created_at": datetime(2026, 12, 1), "window_start": datetime(2026, 11, 1),
             "window_end": datetime(2026, 12, 1), "name": f"mode {n}", "size": len(group), "cost_usd": Decimal("1"),
             "trend": "flat", "window_counts": [len(group)], "features": {}, "examples": []}
            for n, group in groups.items()], [
            {"run_id": "r", "trace_id": r.trace_id.hex(), "span_id": r.span_id.hex(), "cluster": n}
            for n, group in groups.items() for r in group])
        baseline = params_of(policy)
        # compaction re-routed to haiku, and every threshold moved so that any turn left to them moves
        candidate = replace(baseline, base=Thresholds(0, 0),
                            overrides=(Override(Segment.rule("compaction"), TIER_THRESHOLDS[0]),))
        found = {entry["cluster"]: entry for entry in clusters_addressed(engine, prices, policy, baseline, candidate)}
        assert found[0]["moved"] == 20 and found[0]["moves"] == {"opus → haiku": 20}
        assert 1 not in found  # the pin routes them under both
        assert found[2]["moved"] > 0
    finally:
        engine.dispose()
