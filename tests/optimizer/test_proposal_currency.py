"""A stored proposal is a valid policy made against the active version (issue 16, item 4): an
invalid candidate fails the run (or, for the CLI and the loop, is logged and never stored); a
proposal whose parent stopped being active while the optimizer ran is not stored; a pending one is
superseded when another version becomes active, and the loop then proposes against that version
instead of waiting for someone to reject the stale one."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

import optimizer.propose as propose_module
from bench.optimizer_world import START, default_policy
from core.policy.schema import Policy
from core.pricing import builtin_price_table
from optimizer.propose import InvalidCandidateError, Settings, propose
from store.audit import list_audit, verify_audit
from store.policies import activate, create_version, rollback
from store.proposals import StaleParentError, create_proposal, get_proposal, list_proposals
from switchyard.loop_jobs import LoopJobs, LoopSettings
from tests.optimizer.stored import world_store

SETTINGS = Settings(start=START, end=START + timedelta(days=7), seed=2, trials=25, min_ess=50.0,
                    min_ess_sessions=10.0, z=0.0, bootstrap_rounds=50, max_quality_loss=0.02)


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    # v1 sends more to opus and less to haiku than this world needs, so a proposal against it moves turns
    # to a cheaper tier: one buying quality haiku → sonnet (against the default v1) has to clear the
    # Wilson-bounded floor under what a candidate buys (optimizer.replay.upgrade_standard_error), which
    # this small world's explored turns do not; 10 000 turns: the held-out half still holds enough
    # explored sessions behind the cheaper move (at 6 000 it missed the floor)
    _, engine, _ = world_store(tmp_path, turns=10_000, seed=4, haiku_below=1_000, opus_from=60_000)
    return engine


def _broken(policy: Policy, params: object, version: str, **_: object) -> Policy:
    """A candidate writer with the old bug: the sonnet range written empty."""
    document = policy.model_dump(mode="json")
    document.update(version=version, parent=policy.version)
    document["rules"] = [*document["rules"], {"name": "mid", "when": {"input_tokens": {"gte": 13_869, "lt": 13_869}},
                                              "route": ["anthropic-sonnet"]}]
    return Policy.model_validate(document)


def test_an_invalid_candidate_fails_the_run_or_is_logged_and_skipped(store: Engine, monkeypatch: pytest.MonkeyPatch,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(propose_module, "with_params", _broken)
    with pytest.raises(InvalidCandidateError, match="empty range"):
        propose(store, builtin_price_table(), SETTINGS)
    with caplog.at_level(logging.ERROR, logger="switchyard.optimizer"):
        outcome = propose(store, builtin_price_table(), replace(SETTINGS, on_invalid="skip"))
    assert outcome.proposal is None and outcome.skipped == "invalid" and "not a valid policy" in outcome.reason
    assert "optimizer bug" in caplog.text
    assert list_proposals(store) == []


def test_a_parent_that_stopped_being_active_is_not_stored(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    create_version(store, default_policy("v2", explore=30), actor="setup")
    real = propose_module.create_proposal

    def meanwhile(*args: object, **kwargs: object) -> object:  # someone activates v2 during the search
        activate(store, "v2", actor="bob")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(propose_module, "create_proposal", meanwhile)
    outcome = propose(store, builtin_price_table(), SETTINGS)
    assert outcome.proposal is None and outcome.skipped == "stale", outcome.reason
    assert "made against v1 but v2 is active" in outcome.reason
    assert list_proposals(store) == []
    with pytest.raises(StaleParentError):
        create_proposal(store, parent_version="v1", candidate_version="v1.x", document={}, diff={}, evidence={},
                        actor="optimizer", require_active_parent=True)


def test_after_a_rollback_the_stale_proposal_is_superseded_and_the_loop_proposes_again(store: Engine) -> None:
    # v2 sends more to opus than this world needs: the proposal against it moves turns to a cheaper tier
    # (one moving turns haiku → sonnet would have to clear the floor under what a candidate buys)
    create_version(store, default_policy("v2", opus_from=30_000, explore=30), actor="setup")
    activate(store, "v2", actor="setup")
    # min_saving 0: against v1 this small world's proposal saves 0.7 %; the rounds are what is tested
    jobs = LoopJobs(store, LoopSettings(window=timedelta(days=3650), trials=25, min_ess=50.0, poll_s=0.05,
                                        interval_s=30.0, min_saving=0.0))
    jobs.run_once()
    first = list_proposals(store, status="proposed")
    assert [p.parent_version for p in first] == ["v2"], jobs.status
    assert not jobs._active_changed()
    rollback(store, actor="optimizer.watch")  # v2 → v1: the pending proposal describes a policy nobody runs
    stale = get_proposal(store, first[0].id)
    assert (stale.status, stale.decided_by) == ("superseded", "optimizer.watch")
    assert [e.action for e in list_audit(store, subject=stale.id)] == ["proposal.supersede", "proposal.create"]
    # the thread's wait ends at once instead of after the interval …
    started = time.monotonic()
    assert jobs._wait_for_next_round() and time.monotonic() - started < 5
    jobs.run_once()  # … and the round proposes against v1, not blocked by the stale one
    fresh = list_proposals(store, status="proposed")
    assert [p.parent_version for p in fresh] == ["v1"], jobs.status
    assert jobs.status.errors == []
    assert verify_audit(store) == []
