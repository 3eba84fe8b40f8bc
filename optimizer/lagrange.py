"""A global start for the segment search: every block's thresholds at once, by Lagrangian relaxation.

Block by block, a search that only accepts cheaper policies never escalates a segment: sending the
thinking turns to opus costs more on its own, and pays only once the base thresholds spend the
quality it bought. Here instead a price λ (USD per unit of estimated quality) is put on quality and
each block picks, independently, the threshold pair minimising ``cost − λ · quality`` over its own
turns — blocks partition the turns, and both the logged-cache cost and the doubly robust terms are
per-turn sums, so the blocks separate exactly. Raising λ walks along the cheapest combinations for
each level of quality; the search (optimizer.search) tries λs with an Optuna study, judges each
combination exactly (the prompt-cache switch costs, the session-clustered lower bound), and polishes
the best block by block.

A block's map is every pair of its token quantiles (and "never"/"always"), scored in O(1) each from
cumulative sums over the block's turns sorted by tokens. Pure (numpy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.replay import Thresholds

_QUANTILES = 40  # candidate thresholds per block: its token quantiles (plus "never" and "always")


@dataclass(frozen=True, slots=True)
class BlockMap:
    """The threshold pairs of one block and what each costs and scores on the block's turns."""

    pairs: tuple[Thresholds, ...]
    cost: np.ndarray  # USD per pair (prompt-cache switches aside)
    quality: np.ndarray  # Σ doubly robust terms per pair (÷ all turns: the pair's share of the estimate)

    def best(self, price: float) -> Thresholds:
        """The pair minimising cost − price × quality (ties: the cheapest)."""
        score = self.cost - price * self.quality
        return self.pairs[int(np.lexsort((self.cost, score))[0])]


def block_map(tokens: np.ndarray, cost: np.ndarray, terms: np.ndarray, *, low: int, high: int,
              quantiles: int = _QUANTILES, sonnet: bool = True) -> BlockMap:
    """``tokens`` (m), ``cost`` and ``terms`` (m × 3: each turn's USD and DR term on each tier) of one
    block's turns; thresholds are clipped to [low, high] (high: the tier is never used). Without
    ``sonnet`` (the policy has no sonnet target) the two thresholds are one."""
    order = np.argsort(tokens, kind="stable")
    ordered = tokens[order]
    # prefix sums with a leading zero: sums over the turns below a threshold are one lookup
    cum_cost = np.vstack([np.zeros(3), np.cumsum(cost[order], axis=0)])
    cum_terms = np.vstack([np.zeros(3), np.cumsum(terms[order], axis=0)])
    values = np.quantile(ordered, np.linspace(0, 1, quantiles)).astype(np.int64) if ordered.size else np.array([])
    grid = np.unique(np.clip(np.concatenate([values, values + 1, [low, high]]), low, high))
    below = np.searchsorted(ordered, grid, side="left")  # turns with tokens < each grid value
    pairs: list[Thresholds] = []
    costs: list[float] = []
    qualities: list[float] = []
    for i, haiku_below in enumerate(grid):
        for j in (range(i, grid.size) if sonnet else (i,)):
            k_h, k_o = below[i], below[j]
            pairs.append(Thresholds(int(haiku_below), int(grid[j])))
            costs.append(_three_way(cum_cost, k_h, k_o))
            qualities.append(_three_way(cum_terms, k_h, k_o))
    return BlockMap(tuple(pairs), np.array(costs), np.array(qualities))


def _three_way(cumulative: np.ndarray, k_haiku: int, k_opus: int) -> float:
    """Σ over turns: haiku's column below k_haiku, sonnet's between, opus's from k_opus."""
    last = cumulative.shape[0] - 1
    return float(cumulative[k_haiku, 0] + cumulative[k_opus, 1] - cumulative[k_haiku, 1]
                 + cumulative[last, 2] - cumulative[k_opus, 2])
