"""One proposal as a reviewer reads it: where it stands (and its successor, when it was superseded),
the plain-language summary, every rule it changes in full before and after (and as YAML), the
evidence by segment, the candidates the search judged, the failure clusters it re-routes and how
it was measured. Decided proposals read the same as pending ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dash import html
from sqlalchemy import Engine

from core.policy.diff import PolicyDiff, render_diff
from core.policy.rule_diff import RuleDiff, rule_diff
from dashboard.components import graph, grid, note
from dashboard.figures.candidates import candidates_figure, has_judged_candidates
from dashboard.proposal_summary import decision_sentence, successor_of, summary_sentences
from dashboard.review_blocks import diff_block, read_policy, review_blocks
from dashboard.segment_table import segment_table
from store.errors import NotFoundError
from store.policies import get_version
from store.proposals import Proposal

PATH = "/proposals"
NO_CANDIDATES = ("This proposal's evidence holds no list of the candidates the search judged, so the plot shows "
                 "the active policy and the proposal only.")


def proposal_href(proposal_id: str) -> str:
    return f"{PATH}?id={proposal_id}"


def review_of(engine: Engine, proposal: Proposal) -> RuleDiff | None:
    """The rule-level review of parent → candidate; None when either cannot be read any more."""
    candidate = read_policy(proposal.document)
    try:
        parent = read_policy(get_version(engine, proposal.parent_version).document)
    except NotFoundError:
        return None
    return None if parent is None or candidate is None else rule_diff(parent, candidate)


def _standing(proposal: Proposal, proposals: Sequence[Proposal]) -> html.Div:
    parts: list[Any] = [html.P(decision_sentence(proposal), id="proposals-decision")]
    if proposal.status == "superseded":
        successor = successor_of(proposal, proposals)
        if successor is None:
            parts.append(html.P("No successor yet: the optimizer proposes again against the active version on its "
                                "next run.", id="proposals-successor-none", className="note"))
        else:
            parts.append(html.P(["Its successor: ", html.A(
                f"{successor.parent_version} → {successor.candidate_version} ({successor.status}, "
                f"{successor.created_at:%Y-%m-%d %H:%M})", href=proposal_href(successor.id),
                id="proposals-successor")]))
    return html.Div(parts, className="standing")


def _changes(proposal: Proposal, review: RuleDiff | None) -> list[Any]:
    if review is not None:
        return review_blocks(review, "proposals")
    try:  # the parent or the candidate no longer reads: the change as it was stored
        text = render_diff(PolicyDiff.from_dict(proposal.diff))
    except (KeyError, TypeError, ValueError):
        text = "The stored change cannot be read by this version of switchyard."
    return [note(f"{proposal.parent_version} is not stored or no longer reads as a policy: the change as stored."),
            diff_block(text, "proposals-diff")]


def _segments(evidence: Mapping[str, Any]) -> Any:
    columns, rows = segment_table(evidence)
    if not rows:
        return note("The evidence has no per-segment figures.", "proposals-segments-none")
    return grid("proposals-segments", rows, columns, height=min(400, 60 + 42 * len(rows)))


def _candidates(evidence: Mapping[str, Any]) -> list[Any]:
    figure = candidates_figure(evidence)
    if figure is None:
        return [note("The evidence records no costs to plot.", "proposals-candidates-none")]
    hint = [] if has_judged_candidates(evidence) else [note(NO_CANDIDATES, "proposals-candidates-hint")]
    return [*hint, graph("proposals-candidates", figure)]


def clusters_addressed(clusters: object) -> html.Div:
    """The failure clusters whose turns the candidate routes differently (optimizer.cluster_evidence)."""
    if not isinstance(clusters, list) or not clusters:
        return html.Div(note("It re-routes no turn of the latest failure clusters."), id="proposals-clusters")
    items = [html.Li(f"{c.get('name')}: {c.get('moved'):,} of {c.get('size'):,} turns move ("
                     + ", ".join(f"{move} {count:,}" for move, count in dict(c.get("moves") or {}).items()) + ")")
             for c in clusters if isinstance(c, dict)]
    return html.Div([html.H4("Failure clusters it re-routes"), html.Ul(items)], id="proposals-clusters")


def _measured(evidence: Mapping[str, Any]) -> html.Details:
    facts = [(label, evidence.get(key)) for label, key in (
        ("method", "method"), ("search trials", "trials"), ("seed", "seed"), ("bootstrap rounds", "bootstrap_rounds"),
        ("logged turns routed as the proposal would", "agreeing_turns"))]
    window = evidence.get("window")
    if isinstance(window, Mapping):
        facts.append(("window", f"{window.get('start')} … {window.get('end')}"))
    rationale = evidence.get("rationale") or "The optimizer gave no rationale."
    return html.Details([
        html.Summary("How it was measured"),
        html.Ul([html.Li(f"{label}: {value:,}" if isinstance(value, int) else f"{label}: {value}")
                 for label, value in facts if value is not None]),
        html.P(["The optimizer's own account: ", html.Span(str(rationale), id="proposals-rationale")]),
    ], id="proposals-measured")


def proposal_detail(engine: Engine, proposal: Proposal, proposals: Sequence[Proposal]) -> list[Any]:
    evidence = proposal.evidence
    review = review_of(engine, proposal)
    return [
        html.H3([f"{proposal.parent_version} → {proposal.candidate_version} ",
                 html.Span(proposal.status, className=f"badge badge-{proposal.status}", id="proposals-badge")]),
        _standing(proposal, proposals),
        html.H4("In short"),
        html.Ul([html.Li(sentence) for sentence in summary_sentences(evidence, review)], id="proposals-summary"),
        html.H4("What changes, rule by rule"),
        *_changes(proposal, review),
        html.H4("Evidence by segment"), _segments(evidence),
        html.H4("Candidates the search judged"), *_candidates(evidence),
        clusters_addressed(evidence.get("clusters")),
        _measured(evidence),
    ]
