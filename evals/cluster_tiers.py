"""Whether a failure cluster is its tier's, and one cluster for the failures that are not.

k-means has to separate failures by the tier that failed them, or a tier's own failure mode is lost
among the other tiers' failures (:mod:`evals.clusters` weighs the tier for that). So failures that
happen as often on every tier, the natural background of any fleet, come out as one cluster per
tier, "sonnet · tool failure" beside "opus · tool failure", which reads as if each tier had a mode
of its own. No single turn can tell them apart: whether the tier matters is a question about rates.

A cluster is its tier's when its tier fails the kind of turns the cluster holds, the same way (the
cluster's signal), significantly more often than another tier that served such turns: a one-sided
two-proportion z-test at :data:`Z_TIER_SPECIFIC` against each other tier in turn (a failure some
tier avoids is one routing can avoid; pooling the others would let a tier that fails even more hide
it). The kind of turns: the cluster's request classes (each holding at least 5 % of it), from its
10th percentile of tools offered up, and between its 10th and 90th percentiles of prompt size. The
other tiers' turns there come from exploration and fallbacks; a tier with fewer than
:data:`MIN_OTHER_TURNS` of them is not compared, with none left there is no answer and the cluster
stays as it is, as does a cluster no tier dominates. The clusters shown not to be their tier's
become one cluster per signal, named "any tier": the page lists each tier's modes and, apart, what
fails everywhere, which no routing avoids.

Pure: the failing rows, their clustering and the window's turns in; a clustering out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from evals.cluster_features import UNKNOWN_TIER, FailureFeatures
from evals.cluster_summary import cluster_signal, dominant
from evals.clusters import Clustering

# z above which a cluster's tier fails its kind of turns more than the other tiers do (one-sided,
# about 2 %): a mode has to clear it to keep its tier's name; natural failures sit near 0 or below
Z_TIER_SPECIFIC = 2.0
# the other tiers' turns of a cluster's kind needed to compare at all
MIN_OTHER_TURNS = 30
# a request class is part of a cluster's kind when it holds at least this share of the cluster
CLASS_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class TurnPopulation:
    """Every turn of the clustered window (failing or not), one array entry each: the tier that
    served it, its request class ("" unknown), the tools its request offered and its prompt size."""

    tier: np.ndarray
    request_class: np.ndarray
    offered_tools: np.ndarray
    tokens: np.ndarray

    @classmethod
    def of(cls, tiers: Sequence[str], classes: Sequence[str], offered_tools: Sequence[int],
           tokens: Sequence[int]) -> TurnPopulation:
        return cls(np.asarray(tiers, dtype=object), np.asarray(classes, dtype=object),
                   np.asarray(offered_tools, dtype=np.int64), np.asarray(tokens, dtype=np.int64))


@dataclass(frozen=True, slots=True)
class TierTest:
    tier: str
    signal: str
    # the largest over the other tiers compared (mostly the one that fails such turns least); None:
    # no other tier served enough of them to compare
    z: float | None

    @property
    def tier_specific(self) -> bool:
        return self.z is None or self.z >= Z_TIER_SPECIFIC


@dataclass(frozen=True, slots=True)
class _Kind:
    classes: frozenset[str]
    min_tools: float
    low: float
    high: float

    @classmethod
    def of(cls, rows: Sequence[FailureFeatures]) -> _Kind:
        counts = Counter(row.request_class for row in rows)
        low, high = np.percentile([row.total_tokens for row in rows], [10, 90])
        return cls(frozenset(name for name, n in counts.items() if n >= CLASS_SHARE * len(rows)),
                   float(np.percentile([row.offered_tools for row in rows], 10)), float(low), float(high))

    def holds(self, classes: np.ndarray, offered: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        # one comparison per class, not np.isin: isin sorts an object array (seconds on 1 M turns)
        in_classes = np.zeros(len(classes), dtype=bool)
        for name in self.classes:
            in_classes |= classes == name
        return in_classes & (offered >= self.min_tools) & (tokens >= self.low) & (tokens <= self.high)


def _z(failed: int, served: int, failed_other: int, served_other: int) -> float:
    pooled = (failed + failed_other) / (served + served_other)
    spread = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / served + 1 / served_other))
    return (failed / served - failed_other / served_other) / spread


@dataclass(frozen=True, slots=True)
class _Flagged:
    """The failing rows that carry one signal, as the arrays the test counts over."""

    classes: np.ndarray
    offered: np.ndarray
    tokens: np.ndarray
    tiers: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[FailureFeatures], signal: str) -> _Flagged:
        flagged = [row for row in rows if signal in row.signals]
        return cls(np.asarray([row.request_class for row in flagged], dtype=object),
                   np.asarray([row.offered_tools for row in flagged], dtype=np.int64),
                   np.asarray([row.total_tokens for row in flagged], dtype=np.int64),
                   np.asarray([row.tier for row in flagged], dtype=object))


def tier_test(rows: Sequence[FailureFeatures], members: Sequence[int], population: TurnPopulation,
              flagged: dict[str, _Flagged] | None = None) -> TierTest | None:
    """Whether the cluster of ``rows[members]`` is its dominant tier's; None when no tier dominates
    or the dominant one is no tier (``unknown``: a model no price names, which no route can choose,
    so neither is it compared with). ``flagged`` caches the failing rows' arrays per signal
    across the clusters of one clustering."""
    chosen = [rows[i] for i in members]
    tier = dominant([row.tier for row in chosen])
    if tier is None or tier == UNKNOWN_TIER:
        return None
    signal = cluster_signal(chosen)
    kind = _Kind.of(chosen)
    served = kind.holds(population.request_class, population.offered_tools, population.tokens)
    cache = {} if flagged is None else flagged
    failing = cache.get(signal) or cache.setdefault(signal, _Flagged.of(rows, signal))
    failed = kind.holds(failing.classes, failing.offered, failing.tokens)
    n = int((served & (population.tier == tier)).sum())
    k = min(int((failed & (failing.tiers == tier)).sum()), n)
    scores = []
    for other in sorted(set(population.tier[served].tolist()) - {tier, UNKNOWN_TIER}):
        n_other = int((served & (population.tier == other)).sum())
        if n and n_other >= MIN_OTHER_TURNS:
            k_other = min(int((failed & (failing.tiers == other)).sum()), n_other)
            scores.append(_z(k, n, k_other, n_other))
    return TierTest(tier, signal, max(scores) if scores else None)


def merge_shared(rows: Sequence[FailureFeatures], clustering: Clustering, population: TurnPopulation) -> Clustering:
    """``clustering`` with the clusters that are not their tier's merged, one per signal (into the
    largest's label), and those labels in ``shared``."""
    members: dict[int, list[int]] = {}
    for index, label in enumerate(clustering.labels.tolist()):
        members.setdefault(label, []).append(index)
    by_signal: dict[str, list[int]] = {}
    flagged: dict[str, _Flagged] = {}
    for label in sorted(members, key=lambda label: (-len(members[label]), label)):
        test = tier_test(rows, members[label], population, flagged)
        if test is not None and not test.tier_specific:
            by_signal.setdefault(test.signal, []).append(label)
    into = {label: labels[0] for labels in by_signal.values() for label in labels}
    if not into:
        return clustering
    labels = np.asarray([into.get(label, label) for label in clustering.labels.tolist()], dtype=int)
    return replace(clustering, labels=labels, k=len(set(labels.tolist())), shared=frozenset(into.values()))
