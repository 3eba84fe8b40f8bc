"""The proposal page's pure parts and its decisions: the plain-language summary (the quality scale,
why the margin is what it is), the per-segment table driven by whatever the evidence holds, the
candidates plot, the successor of a superseded proposal, and the reason an approver gives (stored,
audited, bounded) — and the summary read off evidence the real optimizer stored."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import pytest
from sqlalchemy import Engine

from core.policy.rule_diff import rule_diff
from core.pricing import builtin_price_table
from dashboard.auth import SignedInUser
from dashboard.figures.candidates import candidates_figure
from dashboard.proposal_actions import MAX_REASON, approve_proposal, reject_proposal
from dashboard.proposal_detail import review_of
from dashboard.proposal_reads import listed_proposals
from dashboard.proposal_summary import (
    QUALITY_SCALE,
    change_sentence,
    decision_sentence,
    margin_reason,
    successor_of,
    summary_sentences,
)
from dashboard.segment_table import segment_table
from dashboard.settings import DashboardSettings, Role
from dashboard.views.proposals import summary_row
from store.audit import list_audit
from store.policies import get_version
from store.proposals import Proposal, get_proposal
from tests.dashboard.fleet import seed_policies
from tests.dashboard.review_fleet import candidate, evidence, seed_review_proposal

ALICE = SignedInUser("alice", Role.approver)
ALLOWED = DashboardSettings(allowed_upstreams=["https://api.anthropic.com", "https://eu.example.com"]).allowlist()


def _proposal(pid: str, created: datetime, status: str = "proposed", decided: datetime | None = None,
              note: str | None = None) -> Proposal:
    return Proposal(pid, "v1", f"c-{pid}", {}, {}, {}, status, created, "optimizer", decided,
                    "bob" if decided else None, note)


def test_the_summary_says_the_scale_and_why_the_margin_is_what_it_is() -> None:
    sentences = summary_sentences(evidence(), None)
    assert QUALITY_SCALE in sentences
    assert "Replayed cost falls by $412.50 a month (6.2%)." in " ".join(sentences)
    assert "Under the proposal that share changes by +0.0021 (+0.21 percentage points)." in sentences
    assert "Its 95% interval runs from −0.0009 to +0.0052." in sentences
    assert "The allowed margin is 0.0080: a proposal passes only if the low end of that interval stays above " \
           "−0.0080." in sentences
    each = [part for item in sentences for part in re.split(r"(?<=[.:]) ", item)]
    assert len(each) > len(sentences) and max(len(part.split()) for part in each) <= 25, each


@pytest.mark.parametrize(("margin", "start"), [
    (0.0080, "The margin is the half-width of the active policy's own 95% interval (0.9412 ± 0.0080)."),
    (0.0050, "The margin is capped at 0.0050, the most quality a proposal may lose."),
    (0.0160, "The margin is 2 times the half-width of the active policy's own 95% interval"),
])
def test_the_margin_is_explained_from_the_active_policys_interval(margin: float, start: str) -> None:
    assert margin_reason(evidence(margin)).startswith(start)


def test_a_recorded_margin_reason_wins_and_a_missing_one_is_said() -> None:
    assert margin_reason({**evidence(), "quality_margin_reason": "Set by hand."}) == "Set by hand."
    assert margin_reason({"quality_margin": 0.01}) == "The evidence does not record why the margin is this size."
    assert summary_sentences({}, None) == []  # nothing the evidence lacks is made up


def test_the_summary_names_each_segment_explored_more() -> None:
    ask = {"part": "repo payments", "share": 0.08, "current_share": 0.02, "explored_sessions": 3, "needed": 10}
    sentences = summary_sentences({"exploration_asks": [ask, {"part": "incomplete"}]}, None)
    assert sentences == ["It explores repo payments at 8% of their sessions (now 2%): 3 explored sessions backed the "
                         "change there, 10 are needed."]


def test_what_changes_in_one_sentence(db_engine: Engine) -> None:
    seed_policies(db_engine)
    v1 = get_version(db_engine, "v1").policy()
    assert change_sentence(rule_diff(v1, candidate(v1, "v3"))) == "It changes 1 rule and adds 1."
    assert change_sentence(rule_diff(v1, v1)) == "It changes no rule."
    assert change_sentence(rule_diff(candidate(v1, "v3"), v1)) == "It changes 1 rule and removes 1."


def test_the_successor_is_the_first_proposal_made_after_the_supersession() -> None:
    at = datetime(2026, 11, 1, 12)
    stale = _proposal("a", at, "superseded", at + timedelta(hours=2), "v2 became the active version")
    earlier = _proposal("b", at + timedelta(hours=1), "rejected", at + timedelta(hours=1))
    first, second = _proposal("c", at + timedelta(hours=3)), _proposal("d", at + timedelta(hours=5))
    assert successor_of(stale, [second, first, earlier, stale]) == first
    assert successor_of(stale, [earlier, stale]) is None
    assert successor_of(first, [second, first]) is None  # only a superseded proposal has one
    assert decision_sentence(stale).startswith("Superseded on 2026-11-01 14:00 UTC: v2 became the active version "
                                               "before anyone decided.")
    assert decision_sentence(earlier).endswith("No reason was given.")


def test_the_segment_table_takes_its_columns_from_the_evidence() -> None:
    columns, rows = segment_table(evidence())
    headers = [c["headerName"] for c in columns]
    assert headers == ["segment", "turns", "sessions", "Δ cost / month", "Δ quality (interval)",
                       "effective sample (turns)"]
    by_header = [dict(zip(headers, (row[c["field"]] for c in columns), strict=True)) for row in rows]
    assert by_header[0] == {"segment": "turns with thinking on", "turns": "9,120", "sessions": "640",
                            "Δ cost / month": "+$35.20", "Δ quality (interval)": "+0.0104 (+0.0031 … +0.0180)",
                            "effective sample (turns)": "702"}
    assert by_header[1]["Δ cost / month"] == "−$447.70"
    # a figure and a segment the page has never heard of: a new column and a new row, no code change
    grown: dict[str, Any] = {"segments": {"repo monorepo": {"turns": 10, "cache.switches": 3, "share_haiku": 0.25},
                                          "requests offering ≥ 20 tools": {"turns": 7}}}
    columns, rows = segment_table(grown)
    assert [c["headerName"] for c in columns] == ["segment", "turns", "cache.switches", "share haiku"]
    assert [c["field"] for c in columns] == ["c0", "c1", "c2", "c3"]  # never a dotted path
    assert rows == [{"c0": "repo monorepo", "c1": "10", "c2": "3", "c3": "25.0%"},
                    {"c0": "requests offering ≥ 20 tools", "c1": "7", "c2": "–", "c3": "–"}]
    assert segment_table({}) == ([], []) and segment_table({"segments": "garbage"}) == ([], [])


def test_the_candidates_plot() -> None:
    figure = candidates_figure(evidence())
    assert figure is not None
    names = [trace["name"] for trace in figure["data"]]
    assert names == ["judged, met the floor", "judged, below the floor", "active policy", "proposal"]
    assert sum(len(trace["x"]) for trace in figure["data"][:2]) == 20
    proposal = figure["data"][3]
    assert (proposal["x"][0], proposal["y"][0]) == (6_287.5, 0.0021)
    assert proposal["error_y"]["arrayminus"][0] == pytest.approx(0.0030)
    assert [shape["y0"] for shape in figure["layout"]["shapes"]] == [-0.0080]  # the margin line
    go.Figure(figure)  # valid plotly, property by property
    # candidates stored with absolute quality and a relative cost are placed against the active policy
    relative = {**evidence(), "candidates": [{"delta_monthly_cost_usd": -100.0, "quality": 0.9400}]}
    judged = candidates_figure(relative)["data"][0]  # type: ignore[index]
    assert (judged["x"][0], judged["y"][0]) == (6_600.0, pytest.approx(0.9400 - 0.9412))
    without = candidates_figure({k: v for k, v in evidence().items() if k != "candidates"})
    assert [trace["name"] for trace in without["data"]] == ["active policy", "proposal"]  # type: ignore[index]
    assert candidates_figure({"delta_quality": {"value": 0.1}}) is None


def test_a_reason_is_stored_audited_and_bounded(db_engine: Engine) -> None:
    seed_policies(db_engine)
    proposal = seed_review_proposal(db_engine, "v3")
    assert reject_proposal(db_engine, ALICE, proposal.id, "  ").startswith("Refused: say why you reject it")
    long = "x" * (MAX_REASON + 1)
    assert reject_proposal(db_engine, ALICE, proposal.id, long) == \
        f"Refused: the reason is {MAX_REASON + 1:,} characters; at most {MAX_REASON:,}."
    escape = reject_proposal(db_engine, ALICE, proposal.id, "fine\x1b[2J\x1b[Happroved")
    assert escape == "Refused: the reason holds control characters."
    assert get_proposal(db_engine, proposal.id).status == "proposed"
    said = approve_proposal(db_engine, ALICE, proposal.id, ALLOWED, "Two weeks of\nclean evals.\t")
    assert said == "Approved: v3 is now active (was v1), by alice. Reason: Two weeks of\nclean evals."
    (entry,) = list_audit(db_engine, subject=proposal.id, action="proposal.approve")
    assert entry.detail["note"] == "Two weeks of\nclean evals." == get_proposal(db_engine, proposal.id).note


def test_the_summary_reads_the_evidence_the_real_optimizer_stores(db_engine: Engine) -> None:
    """The page's reading of the evidence against a proposal the optimizer itself made and stored."""
    from bench.optimizer_world import START, default_policy, generate
    from optimizer.propose import Settings, propose
    from store.policies import activate, create_version
    from tests.optimizer.stored import store_world

    prices = builtin_price_table()
    policy = default_policy("v1", explore=30)
    create_version(db_engine, policy, actor="alice", now=START - timedelta(days=1))
    activate(db_engine, "v1", actor="alice", now=START - timedelta(days=1))
    store_world(db_engine, generate(policy, prices, turns=3_000, seed=5, days=7.0), prices)
    # 3 000 turns hold 5-9 explored sessions behind each move (the default asks 10 a move)
    outcome = propose(db_engine, prices, Settings(start=START, end=START + timedelta(days=7), seed=5, trials=30,
                                                  min_ess=50.0, min_ess_sessions=10.0, bootstrap_rounds=50, z=0.0,
                                                  min_explored_sessions=4))
    assert outcome.proposal is not None, outcome.reason
    stored = get_proposal(db_engine, outcome.proposal.id)
    review = review_of(db_engine, stored)
    assert review is not None and review.count("changed") >= 1
    sentences = summary_sentences(stored.evidence, review)
    text = " ".join(sentences)
    assert QUALITY_SCALE in sentences and "Replayed cost falls by $" in text
    assert "The evidence does not record why the margin is this size." not in sentences
    assert any(s.startswith("The margin is ") for s in sentences)
    assert "The effective sample size is " in text
    assert candidates_figure(stored.evidence) is not None


def test_the_list_reads_only_the_figures_it_shows(db_engine: Engine) -> None:
    seed_policies(db_engine)
    older = seed_review_proposal(db_engine, "v3", extra={"delta_quality": {"value": -0.5, "low": -1, "high": 0}})
    newer = seed_review_proposal(db_engine, "v4", extra={"turns": None})
    listed = listed_proposals(db_engine, limit=10)
    assert [p.id for p in listed] == [newer.id, older.id]
    assert listed[1].evidence == {"delta_monthly_cost_usd": -412.5, "turns": 48_211,
                                  "delta_quality": {"value": -0.5, "low": -1, "high": 0}}
    assert "turns" not in listed[0].evidence  # stored as null: left out, as if absent
    assert (listed[0].document, listed[0].diff) == ({}, {})
    assert summary_row(listed[1])["quality"] == "-0.5000 (-1.0000 … +0.0000)"
    assert [p.id for p in listed_proposals(db_engine, limit=1)] == [newer.id]
