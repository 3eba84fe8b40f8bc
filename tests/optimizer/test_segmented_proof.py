"""The optimizer's full search space against the known truth: on the segmented fleet
(sim.fleet_presets.segmented_fleet — 30 % of sessions with thinking on and harder, the rest
routine work, MCP-heavy repos offering more tools), starting from the hand-written default policy,
the proposal escalates the thinking turns and sends the routine ones cheaper.

The chain is the one `switchyard optimize` runs (store, built-in evals, clustering, propose) on a
week of fleet traffic; the proposal is judged on a *fresh* fleet (another seed) by the per-tier
truth and by running that fleet under it (the next window). The bars: ≥ 20 % cheaper at quality no
worse than the default's, and within 15 % of the cheapest policy in the same search space that the
truth allows at the same quality (the oracle). They were 25 % and 5 % until every claim came from a
held-out half of the sessions (issue 16 item 3: the search sees the other half, so its interval
survives the selection): on this world that trade costs about four points of saving (28.7 % →
24.4 % true; 1.034 → 1.096 × the oracle), for claims that are no longer the winner's curse. Then the
minimum of explored sessions moved from each part of a candidate to each move (optimizer/moves.py,
after a proposal elsewhere was truly worse on a move three sessions stood behind): 21.1 %, 1.145 ×
the oracle, quality still above the start's; the bar went from 12 % to 15 %. On this
world token thresholds alone cannot get there (the cheapest threshold-only policy saves ~3–5 %);
the world was chosen to hold that much routine work, see sim/fleet_presets.py. More seeds:
bench/optimize_fleet.py --segmented.

Known miss (issue 16, open), kept as a strict xfail so CI says when it holds again: once the
optimizer's own traffic and the fallback attribution were merged, the ten cheapest candidates here
were near-twins moving tool-heavy turns opus → sonnet on five explored sessions and nothing was
proposed; since they no longer use up the looks (optimizer.evidence.choose) the proposal saves
29.7 % at 1.020 × the oracle and escalates thinking, but its true quality on the fresh week is
0.0043 *below* the start's (margin 0.0037; −0.0015 on the training week), claimed +0.0075
(−0.0022 … +0.0184). The held-out half's thinking opus → sonnet move (about 20 explored sessions)
read −0.0054 against a truth of −0.0118: the interval's noise, not a bias (the whole week's −0.0089).
"""

from __future__ import annotations

import pytest

from bench.optimizer_fleet import Proof, prove
from core.pricing import builtin_price_table
from optimizer.segments import Segment

TRAIN_SEED, FRESH_SEED, SESSIONS = 100, 101, 6_000


@pytest.fixture(scope="module")
def proof(tmp_path_factory: pytest.TempPathFactory) -> Proof:
    result = prove(tmp_path_factory.mktemp("segmented-proof"), builtin_price_table(), train_seed=TRAIN_SEED,
                   fresh_seed=FRESH_SEED, sessions=SESSIONS, segmented=True)
    print(f"\n{result.turns:,} fleet turns: {result.summary()}")
    return result


def test_a_fifth_cheaper_and_near_the_oracle(proof: Proof) -> None:
    assert proof.proposal is not None, proof.reason
    assert proof.cost <= 0.80 * proof.base_cost
    assert proof.cost <= 1.15 * proof.oracle_cost
    # the search space is what makes it possible: thresholds alone cannot come near
    assert proof.threshold_oracle_cost >= 0.9 * proof.base_cost


def test_it_escalates_thinking_and_sends_routine_work_cheaper(proof: Proof) -> None:
    assert proof.proposal is not None, proof.reason
    overrides = {o.segment: o.thresholds for o in proof.proposal.effective().overrides}
    thinking = overrides[Segment.thinking()]
    assert thinking.opus_from < proof.proposal.base.opus_from  # thinking turns reach opus sooner
    assert proof.proposal.base.opus_from > proof.start.base.opus_from  # routine ones later, if ever


def test_the_claimed_saving_is_the_truths_and_the_next_windows(proof: Proof) -> None:
    assert proof.proposal is not None and proof.before is not None and proof.after is not None
    truth_saving = 1 - proof.cost / proof.base_cost
    realised = 1 - proof.after.cost_usd / proof.before.cost_usd
    assert abs(proof.claimed_saving - truth_saving) <= 0.03
    assert abs(realised - proof.claimed_saving) <= 0.03


@pytest.mark.xfail(strict=True, reason="issue 16: the proposal is truly 0.0043 worse on the fresh week (margin "
                                       "0.0037), claimed +0.0075 (-0.0022 ... +0.0184); see the module's docstring")
def test_quality_no_worse_than_the_start_on_the_fresh_week_and_the_next_window(proof: Proof) -> None:
    assert proof.proposal is not None and proof.before is not None and proof.after is not None
    assert proof.quality >= proof.base_quality
    assert proof.after.success >= proof.before.success - proof.margin
