"""The optimizer against the simulated fleet's ground truth, through the real store and evals:
a week of fleet traffic routed by the hand-written start policy (10 % exploration, propensities
logged) is written to SQLite, scored by the built-in evaluators, clustered, and handed to the
optimizer exactly as `switchyard optimize` does. The proposal is judged on a *fresh* fleet (another
seed): by the known truth, and by actually running that fleet under the proposed policy — the next
window after approval.

Settings and why: bench/optimizer_fleet.py; the same run over more seeds: bench/optimize_fleet.py,
figures in bench/README.md. What this shows: the proposal is cheaper at a true quality within the
margin the optimizer claims, close to the cheapest threshold policy the truth allows at that
margin, its claimed saving is what the truth and the next window show. The 25 % bar of the synthetic
world (test_proof.py) cannot hold here: on this fleet opus is truly better than sonnet on every
token band, so any saving means giving up (at most) the allowed margin of quality, and the start
policy is within about 10 % of the cheapest threshold policy the truth allows at that margin.
"""

from __future__ import annotations

import pytest

from bench.optimizer_fleet import Proof, prove
from core.pricing import builtin_price_table

TRAIN_SEED, FRESH_SEED, SESSIONS = 100, 101, 3_000


@pytest.fixture(scope="module")
def proof(tmp_path_factory: pytest.TempPathFactory) -> Proof:
    result = prove(tmp_path_factory.mktemp("fleet-proof"), builtin_price_table(), train_seed=TRAIN_SEED,
                   fresh_seed=FRESH_SEED, sessions=SESSIONS)
    print(f"\n{result.turns:,} fleet turns: {result.summary()}")
    return result


def test_the_proposal_is_cheaper_at_the_quality_it_claims_and_near_the_oracle(proof: Proof) -> None:
    assert proof.proposal is not None, proof.reason
    assert proof.usable == proof.turns  # every fleet turn carries a propensity and a score
    assert proof.cost <= 0.97 * proof.base_cost
    assert proof.quality >= proof.base_quality - proof.margin
    assert proof.cost <= 1.10 * proof.oracle_cost


def test_the_claimed_saving_is_honest(proof: Proof) -> None:
    """The saving in the proposal's evidence is within two points of the truth's (the replay prices
    the prompt-cache writes that moving a tier switch causes; before it did, it claimed 10.8 % where
    the truth said 4.3 %)."""
    assert proof.proposal is not None, proof.reason
    assert abs(proof.claimed_saving - (1 - proof.cost / proof.base_cost)) <= 0.02


def test_the_evidence_names_the_failure_clusters_it_reroutes(proof: Proof) -> None:
    assert proof.proposal is not None, proof.reason
    assert proof.clusters, "the proposal moves thresholds, so some clustered failures change tier"


def test_the_next_window_realises_the_saving_without_losing_quality(proof: Proof) -> None:
    """The fresh fleet run twice, routed by the start policy and by the proposal (what the proxy
    does after approval and hot reload): what actually happened, cache misses and all."""
    assert proof.proposal is not None and proof.before is not None and proof.after is not None
    realised = 1 - proof.after.cost_usd / proof.before.cost_usd
    assert realised >= 0.02 and abs(realised - proof.claimed_saving) <= 0.03
    assert proof.after.success >= proof.before.success - 2 * proof.margin


def test_a_bad_diff_on_the_fleet_is_rolled_back_within_one_window(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The start policy routes a day of fleet traffic; then a diff that sends every turn to haiku (the
    haiku threshold pushed far past any prompt) is activated on purpose and routes the next day.
    Once that day is over, the guard rolls it back and says why in the audit log."""
    from datetime import timedelta

    from bench.optimizer_fleet import START, start_policy
    from evals.registry import builtin_evaluators
    from evals.runner import EvalSettings, run_evals
    from ingest.local import LocalIngest, fixed_clock
    from optimizer.candidate import with_thresholds
    from optimizer.replay import Thresholds
    from optimizer.watch import REGRESSION, watch
    from sim.fleet import run_fast
    from sim.fleet_presets import routed_fleet
    from store.audit import list_audit
    from store.engine import make_engine
    from store.policies import activate, active_state, create_version
    from store.testing import migrated_sqlite_url

    prices = builtin_price_table()
    engine = make_engine(migrated_sqlite_url(tmp_path))
    day, at = timedelta(days=1), START.replace(tzinfo=None)
    good = start_policy()
    bad = with_thresholds(good, Thresholds(10_000_000, 10_000_000), "start.all-haiku")
    # ingested a day after the second day of traffic (whose last sessions run on for hours)
    store = LocalIngest(engine, prices=prices, clock=fixed_clock(at + 3 * day)).write

    try:
        for policy in (good, bad):
            create_version(engine, policy, actor="alice", now=at - day)
        activate(engine, good.version, actor="alice", now=at - day)
        run_fast(routed_fleet(41, 400, good, start=START, days=1.0), prices, store)
        activate(engine, bad.version, actor="alice", now=at + day)  # the bad diff, on purpose
        run_fast(routed_fleet(42, 400, bad, start=START + day, days=1.0), prices, store)
        run_evals(engine, builtin_evaluators(prices), EvalSettings(settle_s=0))
        assert watch(engine, prices, window=day, now=at + 1.5 * day).status == "waiting"
        verdict = watch(engine, prices, window=day, now=at + 2 * day + timedelta(hours=6))
        assert verdict.status == "rolled_back" and verdict.delta is not None, verdict
        delta = verdict.delta
        print(f"\nrealised quality {delta.value:+.4f} (CI {delta.low:+.4f} … {delta.high:+.4f}) "
              f"over {verdict.turns:,} vs {verdict.previous_turns:,} turns → rolled back")
        state = active_state(engine)
        assert state is not None and state.version == good.version
        [entry] = list_audit(engine, action=REGRESSION)
        assert entry.subject == bad.version and "realised quality fell" in entry.detail["why"]
    finally:
        engine.dispose()
