"""Per-turn routing facts beyond the token estimate (thinking, tools offered, repo), as aligned arrays:
what segment overrides (optimizer.segments) select on and the outcome model learns from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

COLUMNS = ("thinking", "tool_count", "repo")


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """Per-turn routing facts beyond the token estimate, aligned with the replay's turns."""

    thinking: np.ndarray  # bool
    tool_count: np.ndarray  # int64 (0 when unknown)
    repo: np.ndarray  # object: str, or None when the request carried no repo tag

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> TurnFacts | None:
        """From the columns ``thinking``, ``tool_count`` and ``repo`` (None when any is missing)."""
        if not set(COLUMNS) <= set(frame.columns):
            return None
        return cls(frame["thinking"].fill_null(False).to_numpy().astype(bool),
                   frame["tool_count"].fill_null(0).to_numpy().astype(np.int64),
                   np.array(frame["repo"].to_list(), dtype=object))

    def model_columns(self, *, max_repos: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """Outcome-model features: (n × 3 matrix of thinking, log tools offered and a repo code; which
        columns are categorical). The ``max_repos`` busiest repos get codes of their own, the rest
        (and turns without a repo) share one, so the category count stays within what a histogram
        booster bins."""
        tagged = np.array([name if isinstance(name, str) else "" for name in self.repo], dtype=object)
        names, counts = np.unique(tagged, return_counts=True)
        busiest = names[np.argsort(-counts, kind="stable")][:max_repos]
        code_of = {name: code for code, name in enumerate(busiest)}
        codes = np.array([code_of.get(name, len(busiest)) for name in tagged], dtype=np.float64)
        matrix = np.column_stack([self.thinking.astype(np.float64), np.log1p(self.tool_count.astype(np.float64)),
                                  codes])
        return matrix, np.array([False, False, True])
