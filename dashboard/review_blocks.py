"""The rule-level review of a policy change as page blocks, shared by the Proposals and Policies
pages: the readable diff (core.policy.rule_diff's text, each line marked by what happened to its
rule so added, removed, changed and moved rules stand apart) and the touched rules' YAML, before and
after, side by side."""

from __future__ import annotations

from dash import html

from core.policy.rule_diff import RuleDiff, render_rule_diff, rule_yaml
from core.policy.schema import Policy

_KINDS = {"+": "added", "-": "removed", "~": "changed", "↕": "moved", "=": "same"}


def _line_kind(line: str, previous: str) -> str:
    if line.startswith("    "):  # a rule's detail: it belongs to the rule above
        return previous
    return _KINDS.get(line[:1], "head")


def diff_block(text: str, block_id: str) -> html.Pre:
    spans, kind = [], "head"
    for line in text.splitlines():
        kind = _line_kind(line, kind)
        spans.append(html.Span(line + "\n", className=f"diff-line diff-{kind}"))
    return html.Pre(spans, id=block_id, className="diff rule-diff")


def yaml_pair(review: RuleDiff, prefix: str) -> html.Div:
    before, after = rule_yaml(review)
    return html.Div([
        html.Div([html.H5(f"before ({review.old_version})"), html.Pre(before, id=f"{prefix}-yaml-before",
                                                                       className="diff yaml")]),
        html.Div([html.H5(f"after ({review.new_version})"), html.Pre(after, id=f"{prefix}-yaml-after",
                                                                     className="diff yaml")]),
    ], className="yaml-pair")


def review_blocks(review: RuleDiff, prefix: str) -> list[html.Div | html.Pre | html.Details]:
    """The readable diff, then the YAML of the touched rules (in a block a reader can fold away)."""
    return [diff_block(render_rule_diff(review), f"{prefix}-diff"),
            html.Details([html.Summary("The touched rules as YAML, before and after"), yaml_pair(review, prefix)],
                         open=True, id=f"{prefix}-rule-yaml")]


def read_policy(document: object) -> Policy | None:
    """A stored document as a policy, or None when this version of switchyard cannot read it."""
    try:
        return Policy.model_validate(document)
    except ValueError:  # pydantic's ValidationError is a ValueError
        return None
