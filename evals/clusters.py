"""Cluster failing turns into failure modes with scikit-learn (seeded, so a run is reproducible).

Each turn becomes one row of weighted feature blocks: which evaluators flagged it and its error type
weigh most (they say *what* went wrong), then the tier that failed it, its request class, how many
tools the request offered and the prompt's size (they say *where*: a failure mode is a tier failing
a kind of request), then the stop reason, which tools failed, the error text (TF-IDF) and the tools
called. Which tool failed weighs little on purpose: a mode such as "haiku fails main turns that
offer many tools" shows as failures of whichever tools those turns happened to call, and grouping
by tool name spreads it over "Bash / Read / Edit failures" clusters (issue 16); weighed any more,
the few exact combinations of tool and error text look like tight clusters of their own to the
silhouette and the mode is split again. k-means is fitted
for every k in a range and the fewest clusters whose silhouette is about the best wins: k is chosen
from the data, never from the number of modes. Pure: features in, labels out; naming and trends are
in :mod:`evals.cluster_summary`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score

from evals.cluster_features import FailureFeatures


@dataclass(frozen=True, slots=True)
class ClusterWeights:
    signals: float = 3.0
    failed_tools: float = 0.25
    error_type: float = 2.0
    stop_reason: float = 1.0
    tier: float = 2.0
    error_text: float = 0.15
    tokens: float = 1.0
    tools_called: float = 0.1
    tool_density: float = 0.3
    request_class: float = 1.5
    offered_tools: float = 1.2


# The weights before the features that generalise (kept to measure the difference: the
# generalisation suite reports the adjusted Rand index under both).
TOOL_NAME_WEIGHTS = ClusterWeights(signals=3.0, failed_tools=2.0, error_type=2.0, stop_reason=1.0, tier=0.6,
                                   error_text=1.0, tokens=0.6, tools_called=0.4, tool_density=0.3,
                                   request_class=0.0, offered_tools=0.0)


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    random_state: int = 0
    min_clusters: int = 2
    max_clusters: int = 16
    # silhouette is computed on at most this many rows (seeded sample): it is quadratic
    silhouette_sample: int = 3_000
    silhouette_tolerance: float = 0.02
    # k-means is fitted on at most this many failing turns (a seeded sample); all are assigned
    fit_sample: int = 20_000
    weights: ClusterWeights = ClusterWeights()


def _log_size(tokens: int) -> float:
    """Prompt size on a log scale, 0 at 1 K tokens and 1 at 200 K."""
    return max(0.0, math.log10(max(tokens, 1)) - 3.0) / (math.log10(200_000) - 3.0)


def _log_tools(count: int) -> float:
    """Tools offered on a log scale, 0 for none and 1 at 32 or more."""
    return min(1.0, math.log2(1 + max(count, 0)) / math.log2(33))


def _categorical_blocks(rows: Sequence[FailureFeatures], weights: ClusterWeights) -> sparse.csr_matrix:
    def one(row: FailureFeatures) -> dict[str, float]:
        features: dict[str, float] = {}
        for signal in row.signals:
            features[f"signal={signal}"] = weights.signals
        for tool in row.failed_tools:
            features[f"failed={tool}"] = weights.failed_tools
        for tool in row.tool_names:
            features[f"called={tool}"] = weights.tools_called
        if row.error_type:
            features[f"error={row.error_type}"] = weights.error_type
        if row.stop_reason:
            features[f"stop={row.stop_reason}"] = weights.stop_reason
        features[f"tier={row.tier}"] = weights.tier
        # continuous, not bucketed: buckets would split one failure mode at arbitrary edges
        features["tokens"] = weights.tokens * _log_size(row.total_tokens)
        features["tool_density"] = weights.tool_density * min(row.tool_calls, 4) / 4
        if weights.request_class and row.request_class:
            features[f"class={row.request_class}"] = weights.request_class
        if weights.offered_tools:
            features["offered_tools"] = weights.offered_tools * _log_tools(row.offered_tools)
        return features

    return DictVectorizer(sort=True).fit_transform([one(row) for row in rows]).tocsr()


def _text_block(rows: Sequence[FailureFeatures], weight: float) -> sparse.csr_matrix | None:
    texts = [row.error_text for row in rows]
    if not any(texts):
        return None
    vectorizer = TfidfVectorizer(max_features=200, token_pattern=r"(?u)\b[A-Za-z_][A-Za-z_]+\b", sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # every text was stop words or punctuation: no vocabulary
        return None
    return (matrix * weight).tocsr()


def feature_matrix(rows: Sequence[FailureFeatures], weights: ClusterWeights) -> sparse.csr_matrix:
    blocks = [_categorical_blocks(rows, weights)]
    text = _text_block(rows, weights.error_text)
    if text is not None:
        blocks.append(text)
    return sparse.hstack(blocks).tocsr()


@dataclass(frozen=True, slots=True)
class Clustering:
    labels: np.ndarray  # cluster index per row
    centroid_distance: np.ndarray  # each row's distance to its cluster's centre (for examples)
    k: int
    silhouette: float | None
    # clusters of failures that are no one tier's (evals.cluster_tiers: merged across tiers)
    shared: frozenset[int] = frozenset()


def cluster_failures(rows: Sequence[FailureFeatures], settings: ClusterSettings | None = None) -> Clustering:
    settings = settings or ClusterSettings()
    n = len(rows)
    if n == 0:
        return Clustering(np.zeros(0, dtype=int), np.zeros(0), 0, None)
    all_rows = feature_matrix(rows, settings.weights)
    # Many failures: fit on a seeded sample, then assign every row to the nearest centre.
    sample = np.arange(n)
    if n > settings.fit_sample:
        sample = np.sort(np.random.default_rng(settings.random_state).choice(n, settings.fit_sample, replace=False))
    # k-means runs several times faster on a dense array
    matrix = all_rows[sample].toarray()
    # never ask for more clusters than there are distinct rows
    distinct = np.unique(matrix.round(6), axis=0).shape[0]
    upper = min(settings.max_clusters, distinct, len(sample) - 1)
    if upper < settings.min_clusters:
        return Clustering(np.zeros(n, dtype=int), np.zeros(n), 1, None)
    fitted: list[tuple[float, KMeans]] = []
    for k in range(settings.min_clusters, upper + 1):
        model = KMeans(n_clusters=k, n_init=4, random_state=settings.random_state).fit(matrix)
        if len(set(model.labels_)) < 2:
            continue
        score = float(silhouette_score(matrix, model.labels_,
                                       sample_size=min(len(sample), settings.silhouette_sample),
                                       random_state=settings.random_state))
        fitted.append((score, model))
    if not fitted:
        return Clustering(np.zeros(n, dtype=int), np.zeros(n), 1, None)
    # the fewest clusters whose silhouette is about as good as the best: splitting a mode in two
    # often scores a hair higher on categorical features, and is worse to read
    best = max(score for score, _ in fitted)
    score, model = next((s, m) for s, m in fitted if s >= best - settings.silhouette_tolerance)
    labels = np.empty(n, dtype=int)
    distances = np.empty(n)
    for start in range(0, n, settings.fit_sample):  # assign in chunks: bounded memory
        chunk = all_rows[start:start + settings.fit_sample].toarray()
        labels[start:start + len(chunk)] = model.predict(chunk)
        distances[start:start + len(chunk)] = model.transform(chunk)[np.arange(len(chunk)),
                                                                     labels[start:start + len(chunk)]]
    return Clustering(labels, distances, model.n_clusters, None if math.isnan(score) else score)
