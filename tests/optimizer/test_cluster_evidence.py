"""Which failure clusters a proposal re-routes: counted per cluster, most moved first."""

from __future__ import annotations

from optimizer.cluster_evidence import addressed
from optimizer.replay import Thresholds

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
