"""From a real store (SQLite and PostgreSQL) to a stored proposal: features, Optuna on the
project's database, the policy rewrite, the diff and evidence, review status and its audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine

from bench.optimizer_world import START, default_policy, generate
from core.policy.schema import Guardrails
from core.pricing import builtin_price_table
from optimizer.candidate import thresholds_of
from optimizer.features import load_turns
from optimizer.propose import Settings, prepare_frame_split, propose, tier_rates
from optimizer.replay import Thresholds, dr_difference, prepare, total_cost
from optimizer.segments import RoutingParams
from store.audit import list_audit, verify_audit
from store.errors import ConflictError
from store.policies import activate, create_version
from store.proposals import get_proposal, list_proposals, set_status
from tests.optimizer.stored import drop_optuna_storage, store_world

TURNS = 5_000


def _stored(engine: Engine) -> None:
    prices = builtin_price_table()
    policy = default_policy("v1", explore=30)
    create_version(engine, policy, actor="alice", now=START - timedelta(days=1))
    activate(engine, "v1", actor="alice", now=START - timedelta(days=1))
    store_world(engine, generate(policy, prices, turns=TURNS, seed=5, days=7.0), prices)


def _settings(db_url: str | None = None, **overrides: object) -> Settings:
    values: dict[str, object] = {"start": START, "end": START + timedelta(days=7), "seed": 5, "trials": 40,
                                 "min_ess": 100.0, "bootstrap_rounds": 100,
                                 # the guards count the held-out half of the 500 sessions (optimizer.split); on
                                 # it, the point estimate's pick (z=0: every turn to haiku) is 0.0385 worse
                                 "z": 1.0, "min_ess_sessions": 20.0}
    if db_url is not None:
        values.update(database_url=db_url, study_name=f"test-{datetime.now().timestamp()}")
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _assert_claims_are_the_held_out_sessions(frame: pl.DataFrame, evidence: Mapping[str, Any]) -> None:
    """The split's two parts are disjoint sets of whole sessions, and the claimed saving and quality
    change are the held-out part's, recomputed here from the stored turns."""
    settings = _settings()
    held = prepare_frame_split(frame, settings)
    assert evidence["split"]["held_out_sessions"] == frame.filter(pl.Series(held))["session_id"].n_unique()
    assert evidence["split"]["selection_sessions"] == frame.filter(pl.Series(~held))["session_id"].n_unique()
    assert set(frame.filter(pl.Series(held))["session_id"]).isdisjoint(frame.filter(pl.Series(~held))["session_id"])
    assert evidence["split"]["held_out_sessions"] + evidence["split"]["selection_sessions"] == TURNS // 10
    data = prepare(frame, tier_rates(default_policy("v1"), builtin_price_table(), settings.end), days=7.0,
                   seed=settings.seed, cache_aware=True, held_out=held)
    certify = data.subset(held)
    baseline, candidate = (RoutingParams(Thresholds(**{k: evidence[side]["thresholds"][k]  # type: ignore[arg-type]
                                                       for k in ("haiku_below", "opus_from")}))
                           for side in ("baseline", "candidate"))
    base_actions, cand_actions = (p.actions(certify.tokens, certify.facts) for p in (baseline, candidate))
    saving = 1 - total_cost(certify, cand_actions) / total_cost(certify, base_actions)
    assert evidence["delta_cost_share"] == pytest.approx(-saving, rel=1e-9)
    delta = dr_difference(certify, cand_actions, base_actions, rounds=settings.bootstrap_rounds, seed=settings.seed,
                          level=evidence["delta_quality"]["level"])
    assert evidence["delta_quality"]["value"] == pytest.approx(delta.value, rel=1e-9)
    assert evidence["delta_quality"]["low"] == pytest.approx(delta.low, rel=1e-9)


def test_proposal_is_stored_with_diff_evidence_and_audit(db_engine: Engine, db_url: str) -> None:
    _stored(db_engine)
    loaded = load_turns(db_engine, builtin_price_table(), START, START + timedelta(days=7))
    assert loaded.turns == TURNS and loaded.usable == TURNS
    assert set(loaded.frame["tier"].unique()) == {"haiku", "sonnet", "opus"}
    assert loaded.frame["propensity"].min() > 0 and loaded.days == pytest.approx(7.0)
    assert loaded.frame["session_id"].n_unique() == TURNS // 10  # the world's sessions: the bootstrap's unit
    try:  # the study on the project's database (a sibling schema / file), as workers would share it
        outcome = propose(db_engine, builtin_price_table(), _settings(db_url), actor="optimizer")
    finally:
        drop_optuna_storage(db_url)
    assert outcome.proposal is not None, outcome.reason
    proposal = get_proposal(db_engine, outcome.proposal.id)
    assert proposal.status == "proposed" and proposal.parent_version == "v1"
    # only the threshold rules changed
    changed = {change["name"] for change in proposal.diff["rules"]["changed"]}
    assert changed <= {"small", "large"} and changed
    assert not proposal.diff["rules"]["added"] and not proposal.diff["rules"]["removed"]
    assert not proposal.diff["targets"]["added"] and not proposal.diff["default"] and not proposal.diff["header"]
    evidence = proposal.evidence
    assert evidence["delta_monthly_cost_usd"] < 0
    assert evidence["ess"] >= 100 and evidence["turns"] == TURNS and evidence["sessions"] == TURNS // 10
    assert "bootstrap over sessions" in evidence["method"]
    assert {"low", "value", "high"} <= set(evidence["delta_quality"])
    assert "cuts replayed cost" in evidence["rationale"]
    _assert_claims_are_the_held_out_sessions(loaded.frame, evidence)
    assert outcome.diff_text is not None and "rule small" in outcome.diff_text
    assert [p.id for p in list_proposals(db_engine, status="proposed")] == [proposal.id]

    decided = set_status(db_engine, proposal.id, "approved", actor="bob", note="looks right")
    assert decided.status == "approved" and decided.decided_by == "bob"
    with pytest.raises(ConflictError):
        set_status(db_engine, proposal.id, "rejected", actor="carol")
    actions = [entry.action for entry in list_audit(db_engine, subject=proposal.id)]
    assert actions == ["proposal.approve", "proposal.create"]
    assert verify_audit(db_engine) == []


def test_no_proposal_without_enough_evidence(db_engine: Engine) -> None:
    _stored(db_engine)
    outcome = propose(db_engine, builtin_price_table(), _settings(min_ess=1e9))
    assert outcome.proposal is None and "ESS" in outcome.reason
    assert list_proposals(db_engine) == []


def test_no_proposal_when_the_evidence_is_too_few_sessions(db_engine: Engine) -> None:
    _stored(db_engine)
    outcome = propose(db_engine, builtin_price_table(), _settings(min_ess_sessions=1e9))
    assert outcome.proposal is None and "ESS in sessions" in outcome.reason
    assert list_proposals(db_engine) == []


def test_no_proposal_when_it_saves_less_than_is_worth_a_review(db_engine: Engine) -> None:
    """The same store proposes with the default minimum saving (1 %: the tests above); a proposal
    saving less than the minimum asked is refused, saying how much it saved."""
    _stored(db_engine)
    outcome = propose(db_engine, builtin_price_table(), _settings(min_saving=0.9))
    assert outcome.proposal is None and "worth a review" in outcome.reason, outcome.reason
    saved = float(outcome.reason.split(" saves ")[1].split("%")[0]) / 100
    assert 0.01 <= saved < 0.9  # it was cheaper, by more than the default minimum
    assert list_proposals(db_engine) == []


def test_candidate_keeps_everything_but_the_thresholds() -> None:
    from optimizer.candidate import with_thresholds
    from optimizer.replay import Thresholds

    policy = default_policy("v1", explore=10)
    candidate = with_thresholds(policy, Thresholds(30_000, 80_000), "v2")
    assert thresholds_of(candidate) == Thresholds(30_000, 80_000)
    assert candidate.parent == "v1" and candidate.targets == policy.targets and candidate.default == policy.default
    assert candidate.rules[0] == policy.rules[0]  # the exploration split is untouched
    # a proposal never loosens the secret guardrail: its block, overrides and allow-list stay as they were
    guarded = policy.model_copy(update={"guardrails": Guardrails.model_validate(
        {"secrets": "block", "overrides": [{"scope": "repo", "name": "sandbox", "secrets": "flag"}],
         "allow": {"paths": ["*/fixtures/*"]}})})
    assert with_thresholds(guarded, Thresholds(30_000, 80_000), "v3").guardrails == guarded.guardrails


def test_refused_for_thin_evidence_it_proposes_exploring_that_segment_more(db_engine: Engine) -> None:
    """No candidate has the explored sessions it needs: the proposal only explores more, exactly
    where the base thresholds' move was refused, capped, priced, validated, stored for review."""
    _stored(db_engine)
    outcome = propose(db_engine, builtin_price_table(), _settings(min_explored_sessions=100_000,
                                                                  max_exploration_share=0.08, propose_exploration=True))
    assert outcome.proposal is not None, outcome.reason
    proposal = get_proposal(db_engine, outcome.proposal.id)
    evidence = proposal.evidence
    assert evidence["kind"] == "exploration" and "explored sessions" in " ".join(evidence["refusals"])
    asks = evidence["exploration_asks"]
    assert asks and all(set(ask["when"]) == {"input_tokens"} and ask["share"] == 0.08 and ask["needed"] == 100_000
                        and ask["words"] in evidence["rationale"] for ask in asks)
    assert evidence["delta_monthly_cost_usd"] == pytest.approx(sum(ask["monthly_cost_usd"] for ask in asks)) != 0
    # the rules are untouched: a block at share 0 over one target per tier explores the segment only
    assert not proposal.diff["rules"]["added"] and not proposal.diff["rules"]["changed"]
    block = proposal.document["exploration"]
    assert block["share"] == 0 and block["targets"] == ["anthropic-haiku", "anthropic-sonnet", "anthropic-opus"]
    assert [({k: v for k, v in s["when"].items() if v is not None}, s["share"]) for s in block["segments"]] == [
        (ask["when"], 0.08) for ask in asks]
    assert outcome.diff_text is not None and "+ exploration: " in outcome.diff_text


@pytest.mark.parametrize(("cap", "write", "reported"), [(0.0, True, False), (0.08, False, True)])
def test_exploration_is_only_reported_unless_proposing_it_is_on(db_engine: Engine, cap: float, write: bool,
                                                                 reported: bool) -> None:
    _stored(db_engine)
    outcome = propose(db_engine, builtin_price_table(), _settings(min_explored_sessions=100_000,
                                                                  max_exploration_share=cap, propose_exploration=write))
    assert outcome.proposal is None and "explored sessions" in outcome.reason
    assert bool(outcome.evidence.get("exploration_asks")) is reported
    assert list_proposals(db_engine) == []
