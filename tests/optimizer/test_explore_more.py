"""The optimizer asks for more exploration exactly where a change was refused for too few explored
sessions: the segment in the policy's predicates, the share that would back it, capped, with its
cost priced by the replay and the evidence in words."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from bench.optimizer_world import default_policy
from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.diff import diff, render_diff
from core.policy.facts import RouteFacts
from core.policy.schema import Policy
from core.policy.validate import validate
from optimizer.candidate import with_params
from optimizer.evidence import choose
from optimizer.explore_more import (
    Arms,
    arms_of,
    exploration_asks,
    part_asks,
    thin_of,
    tier_targets,
    too_wide,
    with_exploration,
)
from optimizer.kept_rules import check_reading
from optimizer.propose import candidate_problems
from optimizer.replay import Estimate, ReplayData, Thresholds, dr_difference, dr_terms, total_cost
from optimizer.search import SearchResult, Trial
from optimizer.segments import Override, RoutingParams, Segment
from optimizer.turn_facts import TurnFacts
from tests.core.policy.builders import policy

HIGH = 10**6
BASE = RoutingParams(Thresholds(0, HIGH))  # every turn to sonnet
REPOS, SESSIONS, PER_SESSION, DAYS = 20, 2_000, 5, 14.0
COST = [1.0, 3.0, 8.0]  # per turn on haiku, sonnet, opus
ARMS = Arms((0, 1, 2), 0.02)  # haiku, sonnet, opus at 2 %


def _to_haiku(repo: int) -> RoutingParams:
    return RoutingParams(BASE.base, (Override(Segment.repo(f"r{repo}"), Thresholds(HIGH, HIGH)),))


def _world(seed: int = 0, explore: float = 0.02) -> ReplayData:
    """Sessions spread over repos, all sent to sonnet but ``explore`` of them, which go to haiku."""
    rng = np.random.default_rng(seed)
    n = SESSIONS * PER_SESSION
    session = np.repeat(np.arange(SESSIONS), PER_SESSION)
    repo = rng.integers(0, REPOS, SESSIONS)[session]
    logged = np.where(rng.random(SESSIONS) < explore, 0, 1)[session].astype(np.int64)
    facts = TurnFacts(np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64),
                      np.array([f"r{r}" for r in repo], dtype=object))
    return ReplayData(tokens=np.arange(n) % 5_000 + 1_000, logged=logged,
                      propensity=np.where(logged == 0, explore, 1 - explore), reward=np.full(n, 0.8),
                      cost=np.tile(COST, (n, 1)), predicted=np.full((n, 3), 0.75), days=DAYS, session=session,
                      facts=facts)


def _repo_sessions(data: ReplayData, repo: str) -> int:
    return int(np.unique(data.session[data.facts.repo == repo]).size)  # type: ignore[index,union-attr]


def test_a_thin_repo_override_asks_for_its_repo_at_the_share_that_would_back_it() -> None:
    data = _world()
    [thin] = thin_of(data, BASE, _to_haiku(3), min_sessions=10)
    assert thin.segment == Segment.repo("r3") and thin.explored_sessions < 10
    [ask] = part_asks(data, BASE, thin, ARMS, min_sessions=10, cap=0.5)
    reach = _repo_sessions(data, "r3") / 3  # each explored session lands on haiku with 1 chance in 3
    assert ask["when"] == {"repo": ["r3"]} and ask["name"] == "repo-r3" and ask["current_share"] == 0.02
    assert ask["share"] == math.ceil(100 * 10 / reach) / 100
    assert ask["share"] * reach >= 10 > (ask["share"] - 0.01) * reach  # the smallest whole percent that does
    assert ask["explored_sessions_per_week"] == pytest.approx(ask["share"] * reach * 7 / DAYS)
    # the repo's turns, explored at the extra share, cost the mean of the arms (4) instead of sonnet's (3)
    turns = int(np.sum(data.facts.repo == "r3"))  # type: ignore[union-attr]
    assert ask["monthly_cost_usd"] == pytest.approx((ask["share"] - 0.02) * turns * (4.0 - 3.0) * 30 / DAYS)
    assert ask["words"].startswith(f"repo r3: {thin.explored_sessions} explored sessions, 10 needed; at ")


def test_the_ask_is_capped_and_says_how_long_the_cap_takes() -> None:
    data = _world()
    [thin] = thin_of(data, BASE, _to_haiku(3), min_sessions=500)
    [ask] = part_asks(data, BASE, thin, ARMS, min_sessions=500, cap=0.1)
    assert ask["share"] == 0.1
    assert ask["weeks_to_needed"] == pytest.approx(500 / ask["explored_sessions_per_week"])
    assert ask["weeks_to_needed"] > 1
    assert f"500 in ~{ask['weeks_to_needed']:.1f} weeks" in ask["words"]
    # already explored at the cap (here by an existing segment with the same predicates): nothing to ask
    at_cap = Arms((0, 1, 2), 0.02, (({"repo": ["r3"]}, 0.1),))
    assert part_asks(data, BASE, thin, at_cap, min_sessions=500, cap=0.1) == []
    # explored that much already (the window is short, not the share): asking again would ratchet it
    [few] = thin_of(data, BASE, _to_haiku(3), min_sessions=10)
    [ask] = part_asks(data, BASE, few, ARMS, min_sessions=10, cap=0.5)
    enough = Arms((0, 1, 2), 0.02, (({"repo": ["r3", "r4"]}, ask["share"]),))  # a segment that covers it
    assert part_asks(data, BASE, few, enough, min_sessions=10, cap=0.5) == []
    # no arm on the tier the candidate moves to: exploring more would not help
    assert part_asks(data, BASE, thin, Arms((1, 2), 0.02), min_sessions=500, cap=0.1) == []


def test_a_thin_base_change_asks_for_the_token_range_it_moves() -> None:
    data = _world()
    candidate = RoutingParams(Thresholds(3_000, HIGH))  # turns under 3,000 tokens to haiku
    [thin] = thin_of(data, BASE, candidate, min_sessions=10_000)
    assert thin.segment is None
    [ask] = part_asks(data, BASE, thin, ARMS, min_sessions=10_000, cap=0.1)
    assert ask["when"] == {"input_tokens": {"gte": 1_000, "lt": 3_000}}


def test_a_base_move_at_both_ends_asks_for_each_run_of_tokens_it_moves_not_the_turns_between() -> None:
    data = _world()
    candidate = RoutingParams(Thresholds(2_000, 5_000))  # under 2,000 to haiku, from 5,000 to opus
    [thin] = thin_of(data, BASE, candidate, min_sessions=10_000)
    asks = part_asks(data, BASE, thin, ARMS, min_sessions=10_000, cap=0.1)
    assert [ask["when"] for ask in asks] == [{"input_tokens": {"gte": 1_000, "lt": 2_000}},
                                             {"input_tokens": {"gte": 5_000, "lt": 6_000}}]


def test_at_the_asked_share_a_window_like_this_one_holds_the_sessions_needed() -> None:
    """Log a fresh window through decide() with the ask written into the policy: the explored
    sessions behind the same override reach the number needed (within sampling noise)."""
    data = _world()
    needed = 10
    [thin] = thin_of(data, BASE, _to_haiku(3), min_sessions=needed)
    [ask] = part_asks(data, BASE, thin, ARMS, min_sessions=needed, cap=0.5)
    arms = ["haiku", "sonnet-us", "opus"]
    written = with_exploration(policy([], default=["sonnet-us"], exploration={"share": 0.02, "targets": arms}),
                               [ask], arms)
    compiled = compile_policy(written)
    backing = []
    for trial in range(30):  # 30 windows of the repo's sessions
        sessions = [f"w{trial}-s{i}" for i in range(_repo_sessions(data, "r3"))]
        backing.append(sum(decide(compiled, RouteFacts(repo="r3", session_id=s)).chain[0].name == "haiku"
                           for s in sessions))
    assert np.mean(backing) == pytest.approx(ask["share"] * _repo_sessions(data, "r3") / 3, rel=0.15)
    assert np.mean(backing) >= needed * 0.85


def test_with_exploration_raises_an_existing_segment_or_adds_one_and_the_policy_validates() -> None:
    block = {"share": 0.02, "targets": ["haiku", "sonnet-us", "opus"],
             "segments": [{"when": {"repo": ["r3"]}, "share": 0.04}]}
    asks = [{"name": "repo-r3", "when": {"repo": ["r3"]}, "share": 0.08},
            {"name": "thinking", "when": {"thinking": True}, "share": 0.05}]
    written = with_exploration(policy(exploration=block), asks, ["haiku", "opus"])
    assert written.exploration is not None and validate(written) == []
    assert [(s.name, s.share) for s in written.exploration.segments] == [(None, 0.08), ("thinking", 0.05)]
    assert arms_of(written).share_for({"repo": ["r3"]}) == 0.08
    # without a block: one at share 0 over the given targets, exploring only the segments
    added = with_exploration(policy(), asks[1:], ["haiku", "opus"])
    assert added.exploration is not None and added.exploration.share == 0 and validate(added) == []
    assert added.exploration.targets == ("haiku", "opus")
    # the arms such a block would have: one per tier the policy has (none when under two)
    assert arms_of(policy()).tiers == (0, 1, 2) and arms_of(policy()).share == 0
    sonnets = [t.model_dump(mode="json") for t in policy().targets if t.tier == "sonnet"]
    only_sonnet = Policy.model_validate({**policy().model_dump(mode="json"), "targets": sonnets,
                                         "default": {"route": ["sonnet-us"]}})
    assert arms_of(only_sonnet).tiers == ()


def _search_result(data: ReplayData) -> SearchResult:
    base_terms = dr_terms(data, BASE.actions(data.tokens, data.facts))
    trials = [Trial(_to_haiku(r), 1.0, float(dr_terms(data, _to_haiku(r).actions(data.tokens, data.facts)).mean()),
                    True, 0.0) for r in range(3)]
    baseline = Trial(BASE, total_cost(data, BASE.actions(data.tokens, data.facts)), float(base_terms.mean()), True)
    return SearchResult(BASE, Estimate(baseline.quality, baseline.quality, baseline.quality), baseline.cost,
                        baseline.quality - 0.01, 0.01, 1.96, (baseline, *trials))


def test_choose_hands_over_the_parts_it_refused_for_thin_evidence() -> None:
    data = _world()
    choice = choose(data, _search_result(data), min_ess=0, min_ess_sessions=0, rounds=20,
                    min_explored_sessions=10_000)
    assert choice.params is None
    assert {thin.segment for thin in choice.thin} == {Segment.repo(f"r{r}") for r in range(3)}
    asks = exploration_asks(data, BASE, choice.thin, ARMS, min_sessions=10_000, cap=0.1)
    # in the order choose() looked at the candidates (cheapest feasible first), one per segment
    assert [ask["when"] for ask in asks] == [{"repo": [thin.segment.value]} for thin in choice.thin if thin.segment]
    assert all(ask["share"] == 0.1 for ask in asks)
    # without the guard nothing is thin
    assert choose(data, _search_result(data), min_ess=0, min_ess_sessions=0, rounds=20).thin == ()


def test_an_interval_too_wide_asks_for_the_square_of_the_factor_in_sessions() -> None:
    """A candidate whose point estimate clears the floor but whose interval is k times too wide needs
    k² times the explored sessions behind each of its parts (the width goes as 1/√sessions): its
    ask says so and is sized for that many, not for the guards' minimum."""
    data = _world(explore=0.3)
    assert thin_of(data, BASE, _to_haiku(3), min_sessions=10) == []  # past the minimum already
    [wide] = too_wide(data, BASE, _to_haiku(3), 4.0)
    explored = int(np.unique(data.session[(data.facts.repo == "r3") & (data.logged == 0)]).size)  # type: ignore[union-attr]
    assert wide.segment == Segment.repo("r3") and wide.explored_sessions == explored
    assert wide.needed == math.ceil(explored * 4.0)
    [ask] = part_asks(data, BASE, wide, Arms((0, 1, 2), 0.0), min_sessions=10, cap=0.5)
    assert ask["needed"] == wide.needed
    assert ask["words"].startswith(f"repo r3: {explored} explored sessions, {wide.needed} needed; at ")
    reach = _repo_sessions(data, "r3") / 3
    assert ask["share"] == min(0.5, math.ceil(100 * wide.needed / reach) / 100)


def test_choose_hands_over_a_candidate_whose_interval_is_too_wide_sized_for_it() -> None:
    """Past the explored-session minimum, a candidate whose point estimate clears the floor and whose
    interval does not is handed over as thin, needing (half-width / room to the floor)² times the
    explored sessions it has; one whose point estimate misses the floor is not (no exploration helps)."""
    data = _world(explore=0.3)
    data = replace(data, reward=(np.random.default_rng(5).random(data.n) < 0.8).astype(float))
    result = replace(_search_result(data), margin=0.001)
    choice = choose(data, result, min_ess=0, min_ess_sessions=0, rounds=20, min_explored_sessions=10)
    assert choice.params is None and "crosses the floor margin" in choice.reason
    [wide] = choice.thin
    base = BASE.actions(data.tokens, data.facts)
    delta = dr_difference(data, wide.candidate.actions(data.tokens, data.facts), base, rounds=20)
    assert delta.value + result.margin > 0 > delta.low + result.margin
    assert wide.needed == math.ceil(wide.explored_sessions * ((delta.value - delta.low)
                                                             / (delta.value + result.margin)) ** 2)
    assert wide.needed > wide.explored_sessions >= 10
    # without the explored-session guard, nothing is asked
    assert choose(data, result, min_ess=0, min_ess_sessions=0, rounds=20).thin == ()


def test_thin_of_is_empty_when_enough_sessions_back_the_move() -> None:
    data = _world(explore=0.3)
    assert thin_of(data, BASE, _to_haiku(3), min_sessions=10) == []


def test_a_routing_proposal_with_asks_validates_and_still_reads_as_its_thresholds() -> None:
    """The path propose() takes with parts left unchanged: thresholds written, then the asks; the
    result passes the proposal validator and its tier rules still route as the params say."""
    start = default_policy("v1", explore=10)  # a hand-written exploration rule, no block
    params = RoutingParams(Thresholds(3_000, 150_000), (Override(Segment.repo("r1"), Thresholds(HIGH, HIGH)),))
    asks = [{"name": "repo-r2", "when": {"repo": ["r2"]}, "share": 0.08},
            {"name": "tokens-2000-3000", "when": {"input_tokens": {"gte": 2_000, "lt": 3_000}}, "share": 0.05}]
    written = with_exploration(with_params(start, params, "v1.opt"), asks, tier_targets(start))
    assert candidate_problems(written) == []
    check_reading(written, params.effective())  # raises when the rules route elsewhere than priced
    assert written.exploration is not None and written.exploration.targets == (
        "anthropic-haiku", "anthropic-sonnet", "anthropic-opus")
    assert "+ exploration: " in render_diff(diff(start, written))


def test_the_monthly_cost_of_exploring_reads_as_a_cost_or_a_saving() -> None:
    from optimizer.explore_more import monthly_words
    assert monthly_words(1.2) == "costs ~$1.20 a month"
    assert monthly_words(-0.4) == "saves ~$0.40 a month"


def test_a_base_move_overlapping_an_explored_token_range_widens_that_segment_not_a_near_twin() -> None:
    """The loop's later weeks: last week's ask explores 2,000–5,999 at 5 %; this week's base move takes
    1,000–2,999. One segment on 1,000–5,999 is asked for, at no less than 5 %, and written in the old
    one's place: the policy never grows a near twin of a segment week after week."""
    data = _world()
    explored = {"input_tokens": {"gte": 2_000, "lt": 6_000}}
    arms = Arms((0, 1, 2), 0.02, ((explored, 0.05),))
    [thin] = thin_of(data, BASE, RoutingParams(Thresholds(3_000, HIGH)), min_sessions=10_000)
    [ask] = part_asks(data, BASE, thin, arms, min_sessions=10_000, cap=0.1)
    assert ask["when"] == {"input_tokens": {"gte": 1_000, "lt": 6_000}} and ask["widens"] == [explored]
    assert ask["share"] == 0.1 and "widens the exploration of 2,000–5,999" in ask["words"]
    # half the moved sessions (those starting at 2,000–2,999) are explored at 5 % already, half at 2 %
    assert ask["current_share"] == pytest.approx(0.035, abs=0.002)
    block = {"share": 0.02, "targets": ["haiku", "sonnet-us", "opus"],
             "segments": [{"name": "tokens-2000-6000", "when": explored, "share": 0.05},
                          {"when": {"repo": ["r3"]}, "share": 0.04}]}
    written = with_exploration(policy(exploration=block), [ask], ["haiku", "opus"])
    assert written.exploration is not None and validate(written) == []
    assert [(s.name, s.when.model_dump(mode="json", exclude_none=True), s.share)
            for s in written.exploration.segments] == [
        ("tokens-2000-6000", ask["when"], 0.1), (None, {"repo": ["r3"]}, 0.04)]


def test_a_move_the_token_ranges_explore_enough_already_asks_nothing_and_a_widening_never_lowers_a_share() -> None:
    data = _world()
    [thin] = thin_of(data, BASE, RoutingParams(Thresholds(3_000, HIGH)), min_sessions=10_000)
    # the moved turns' sessions explored at 9 % already where 6 % would back the move
    need = 6
    reach = np.unique(data.session[(data.tokens < 3_000)]).size / 3
    min_sessions = int(need / 100 * reach)
    covered = Arms((0, 1, 2), 0.02, (({"input_tokens": {"gte": 500, "lt": 2_000}}, 0.09),
                                     ({"input_tokens": {"gte": 2_000}}, 0.09)))
    assert part_asks(data, BASE, thin, covered, min_sessions=min_sessions, cap=0.1) == []
    # one of the two at 3 %: the moved sessions see ~6 % on average, under the 8 % now needed, so it
    # asks, and the widened segment keeps the larger of its shares (9 %), not the 8 %
    mixed = Arms((0, 1, 2), 0.02, (({"input_tokens": {"gte": 500, "lt": 2_000}}, 0.03),
                                   ({"input_tokens": {"gte": 2_000}}, 0.09)))
    [ask] = part_asks(data, BASE, thin, mixed, min_sessions=math.ceil(0.075 * reach), cap=0.1)
    assert ask["current_share"] == pytest.approx(0.06, abs=0.003) and ask["needed"] == math.ceil(0.075 * reach)
    assert ask["when"] == {"input_tokens": {"gte": 500}} and ask["name"] == "tokens-500-up"
    assert ask["share"] == 0.09 and len(ask["widens"]) == 2 and "2,000 and up" in ask["words"]
    block = {"share": 0.02, "targets": ["haiku", "sonnet-us", "opus"],
             "segments": [{"when": w, "share": s} for w, s in mixed.segments]}
    written = with_exploration(policy(exploration=block), [ask], ["haiku", "opus"])
    assert written.exploration is not None and validate(written) == []
    assert [(s.when.model_dump(mode="json", exclude_none=True), s.share) for s in written.exploration.segments] == [
        ({"input_tokens": {"gte": 500}}, 0.09)]
