"""How well failure clusters recover a world's injected modes: the adjusted Rand index between the
clusters the failing turns were put in and the mode each failure came from (sim.world_plan's truth:
a mode's label, "background" for natural failures, and "not a failure" for a turn the evals flagged
that did not fail, e.g. a cost outlier). 1 is a perfect match, 0 what chance gives. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from sklearn.metrics import adjusted_rand_score

from sim.world_plan import WorldTruth

NOT_A_FAILURE = "not a failure"


class _Clustered(Protocol):
    @property
    def span_id(self) -> str: ...


def injected_labels(rows: Sequence[_Clustered], truth: WorldTruth) -> list[str]:
    """The truth's label of each clustered row, found by span id."""
    by_span = dict(zip(truth.span_id.tolist(), truth.failure.tolist(), strict=True))
    return [str(by_span.get(row.span_id) or NOT_A_FAILURE) for row in rows]


def adjusted_rand(rows: Sequence[_Clustered], labels: np.ndarray, truth: WorldTruth) -> float | None:
    """ARI of ``labels`` (one per row) against the injected modes; None when nothing was clustered."""
    if not rows:
        return None
    return float(adjusted_rand_score(injected_labels(rows, truth), labels))
