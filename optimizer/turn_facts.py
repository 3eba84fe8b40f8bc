"""Per-turn routing facts beyond the token estimate, as aligned arrays: what segment overrides
(optimizer.segments) select on and the outcome model learns from — thinking, tools offered and repo,
and, when the store has them, Claude Code's request class and agent type, the team and the
developer (every one a predicate the policy language has: core.policy.schema.Match)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

COLUMNS = ("thinking", "tool_count", "repo")  # required: without them, tokens only
# None per turn when the frame lacks them; ``rule`` is no stored column: optimizer.propose adds it
# (the re-routable rule of the active policy that routes the turn: optimizer.kept_rules.rule_column)
OPTIONAL = ("request_class", "agent_type", "team", "developer", "rule")


def _objects(frame: pl.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(frame.height, None, dtype=object)
    return np.array(frame[column].to_list(), dtype=object)


def _codes(values: np.ndarray, most: int) -> np.ndarray:
    """A category code per turn: the ``most`` commonest values their own, the rest (and None) one."""
    tagged = np.array([value if isinstance(value, str) else "" for value in values], dtype=object)
    names, counts = np.unique(tagged, return_counts=True)
    busiest = names[np.argsort(-counts, kind="stable")][:most]
    code_of = {name: code for code, name in enumerate(busiest)}
    return np.array([code_of.get(name, len(busiest)) for name in tagged], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """Per-turn routing facts beyond the token estimate, aligned with the replay's turns."""

    thinking: np.ndarray  # bool
    tool_count: np.ndarray  # int64 (0 when unknown)
    repo: np.ndarray  # object: str, or None when the request carried no repo tag
    request_class: np.ndarray | None = None  # object: Claude Code's hint (main, subagent, compaction, …) or None
    agent_type: np.ndarray | None = None  # object
    team: np.ndarray | None = None  # object
    developer: np.ndarray | None = None  # object
    rule: np.ndarray | None = None  # object: the re-routable rule that routes the turn, or None

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> TurnFacts | None:
        """From the columns ``thinking``, ``tool_count`` and ``repo`` (None when any is missing) and
        those of OPTIONAL the frame has."""
        if not set(COLUMNS) <= set(frame.columns):
            return None
        return cls(frame["thinking"].fill_null(False).to_numpy().astype(bool),
                   frame["tool_count"].fill_null(0).to_numpy().astype(np.int64),
                   np.array(frame["repo"].to_list(), dtype=object),
                   *(_objects(frame, column) for column in OPTIONAL))

    def column(self, name: str, n: int) -> np.ndarray:
        """One object column by name (all None when not known)."""
        value = getattr(self, name)
        return np.full(n, None, dtype=object) if value is None else value

    def subset(self, index: np.ndarray) -> TurnFacts:
        def part(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[index]
        return TurnFacts(self.thinking[index], self.tool_count[index], self.repo[index], part(self.request_class),
                         part(self.agent_type), part(self.team), part(self.developer), part(self.rule))

    def model_columns(self, *, max_repos: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """Outcome-model features: (n × m matrix of thinking, log tools offered, a repo code and, when
        known, request-class, agent-type, team and re-routable rule codes; which columns are categorical). The
        ``max_repos`` busiest repos get codes of their own, the rest (and turns without a repo)
        share one, so the category count stays within what a histogram booster bins."""
        columns = [self.thinking.astype(np.float64), np.log1p(self.tool_count.astype(np.float64)),
                   _codes(self.repo, max_repos)]
        for values, most in ((self.request_class, 10), (self.agent_type, 20), (self.team, 30), (self.rule, 20)):
            # a column every turn shares (no hint headers, no teams) tells the model nothing: left out
            if values is not None and any(isinstance(value, str) for value in values):
                columns.append(_codes(values, most))
        categorical = np.array([False, False] + [True] * (len(columns) - 2))
        return np.column_stack(columns), categorical
