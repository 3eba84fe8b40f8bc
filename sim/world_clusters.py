"""How well failure clusters recover a world's injected modes: the adjusted Rand index between the
clusters the failing turns were put in and where each failure came from (sim.world_plan's truth: a
mode's label; "background" for a natural failure; "not a failure" for a turn an evaluator flagged
that did not fail, e.g. a cost outlier). 1 is a perfect match, 0 what chance gives. Pure.

Two readings, both reported (docs/generalisation.md): *strict*, every natural failure one group
whatever its tier; and *per tier*, a tier's natural failures one group each. Natural failures happen
at the same rate on every tier, so nothing in one turn tells a sonnet one from an opus one except the
tier — the very feature that has to separate a tier's injected mode from the rest — and a clustering
that names the failing tier splits them by tier. The strict reading counts that split as a miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from sklearn.metrics import adjusted_rand_score

from sim.fleet_plan import BACKGROUND
from sim.world_plan import WorldTruth

NOT_A_FAILURE = "not a failure"


class _Clustered(Protocol):
    @property
    def span_id(self) -> str: ...
    @property
    def tier(self) -> str: ...


def injected_labels(rows: Sequence[_Clustered], truth: WorldTruth, *, background_by_tier: bool = False) -> list[str]:
    """The truth's label of each clustered row, found by span id."""
    by_span = dict(zip(truth.span_id.tolist(), truth.failure.tolist(), strict=True))
    labels = [str(by_span.get(row.span_id) or NOT_A_FAILURE) for row in rows]
    if background_by_tier:
        labels = [f"{BACKGROUND}@{row.tier}" if label == BACKGROUND else label
                  for row, label in zip(rows, labels, strict=True)]
    return labels


def adjusted_rand(rows: Sequence[_Clustered], labels: np.ndarray, truth: WorldTruth, *,
                  background_by_tier: bool = False) -> float | None:
    """ARI of ``labels`` (one per row) against the injected modes; None when nothing was clustered."""
    if not rows:
        return None
    return float(adjusted_rand_score(injected_labels(rows, truth, background_by_tier=background_by_tier), labels))
