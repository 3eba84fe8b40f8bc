"""A synthetic routing world with a known truth, for the optimizer's tests and benchmark.

Each turn has a prompt size (log-normal estimated input tokens) and a latent difficulty that grows
with it (big contexts are harder); tier t succeeds with probability sigmoid(skill_t − 9·difficulty).
Turns are routed by a real policy through core.policy's decide() (so propensities are the ones the
proxy would log, exploration split included); the outcome (0/1) is drawn from the served tier's
probability. Output tokens differ by tier (a fixed verbosity ratio). Seeded numpy throughout.

The truth is kept per turn for every tier (success probability, cost), so any threshold policy's
true quality and cost on a sample are exact sums, and the oracle is a grid search over them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from core.policy.compile import compile_policy
from core.policy.decide import decide
from core.policy.facts import RouteFacts
from core.policy.schema import Policy
from core.pricing import PriceTable, Usage
from core.spans import Turn
from optimizer.replay import TIERS, Thresholds

MODELS = {"haiku": "claude-haiku-4-5-20251001", "sonnet": "claude-sonnet-4-5-20250929",
          "opus": "claude-opus-4-5-20251101"}
SKILL = np.array([4.5, 4.9, 6.0])
VERBOSITY = np.array([0.85, 1.0, 1.15])  # output tokens relative to sonnet
START = datetime(2026, 11, 2)


def default_policy(version: str = "v1", *, haiku_below: int = 2_000, opus_from: int = 150_000,
                   explore: int = 10) -> Policy:
    """The hand-written starting point: haiku for tiny prompts, opus for huge ones, sonnet else;
    ``explore`` % of sessions (by hash bucket) spread evenly over the three tiers."""
    targets = [{"name": f"anthropic-{tier}", "base_url": "https://api.anthropic.com", "model": MODELS[tier],
                "tier": tier} for tier in TIERS]
    rules: list[dict[str, object]] = []
    if explore:
        rules.append({"name": "explore", "when": {"session_bucket": {"lt": explore}},
                      "split": [{"weight": 1, "route": [f"anthropic-{tier}"]} for tier in TIERS]})
    rules += [{"name": "small", "when": {"input_tokens": {"lt": haiku_below}}, "route": ["anthropic-haiku"]},
              {"name": "large", "when": {"input_tokens": {"gte": opus_from}}, "route": ["anthropic-opus"]}]
    return Policy.model_validate({"version": version, "targets": targets, "rules": rules,
                                  "default": {"route": ["anthropic-sonnet"]}})


@dataclass(frozen=True, slots=True)
class World:
    """One sample of turns: what was logged, and the truth for every tier."""

    frame: pl.DataFrame  # replay columns (tokens, tier, propensity, reward, usage) + session_id, started_at, ...
    p_success: np.ndarray  # n × 3
    cost: np.ndarray  # n × 3, USD
    days: float

    def true_quality(self, thresholds: Thresholds) -> float:
        actions = thresholds.actions(self.frame["tokens"].to_numpy())
        return float(self.p_success[np.arange(actions.size), actions].mean())

    def true_cost(self, thresholds: Thresholds) -> float:
        actions = thresholds.actions(self.frame["tokens"].to_numpy())
        return float(self.cost[np.arange(actions.size), actions].sum())


def _rates(prices: PriceTable, day: datetime) -> list[tuple[float, float]]:
    rates = []
    for tier in TIERS:
        entry = prices.lookup(MODELS[tier], day.date())
        assert entry is not None
        rates.append((float(entry.input), float(entry.output)))
    return rates


def generate(policy: Policy, prices: PriceTable, *, turns: int, seed: int, start: datetime = START,
             days: float = 7.0, turns_per_session: int = 10, compaction_every: int = 0) -> World:
    """``compaction_every`` k > 0: every k-th session's turns are Claude Code compaction calls
    (request class ``compaction``, routed by the policy as such, and easy on every tier, as
    summarising a conversation is)."""
    rng = np.random.default_rng(seed)
    tokens = np.clip(np.exp(rng.normal(np.log(15_000), 1.1, turns)), 1_000, 400_000).astype(np.int64)
    # small prompts are easy (every tier does them); difficulty climbs with the context beyond ~15 K
    difficulty = np.clip(0.05 + 0.25 * np.maximum(0.0, np.log(tokens / 15_000)) + np.abs(rng.normal(0, 0.08, turns)),
                         0, 1)
    classes = [("compaction" if compaction_every and (index // turns_per_session) % compaction_every == 0 else None)
               for index in range(turns)]
    difficulty = np.where(np.array([c is not None for c in classes], dtype=bool), 0.05, difficulty)
    p_success = 1 / (1 + np.exp(-(SKILL[None, :] - 9 * difficulty[:, None])))
    base_output = np.clip(rng.lognormal(6.4, 0.6, turns), 20, 8_000)
    # Claude Code's prompts are mostly cache reads; a tenth is written, a twentieth uncached.
    uncached, written = (tokens * 0.05).astype(np.int64), (tokens * 0.10).astype(np.int64)
    read = tokens - uncached - written
    rates = _rates(prices, start)
    cost = np.column_stack([(uncached * i + written * i * 1.25 + read * i * 0.1 + base_output * v * o) / 1e6
                            for (i, o), v in zip(rates, VERBOSITY, strict=True)])
    compiled = compile_policy(policy)
    session_ids = [str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | index, version=4))
                   for index in range(turns // turns_per_session + 1)]
    tier_of_target = {target.name: target.tier for target in policy.targets}
    served, propensity = np.empty(turns, dtype=np.int8), np.empty(turns)
    code = {tier: index for index, tier in enumerate(TIERS)}
    for index in range(turns):
        decision = decide(compiled, RouteFacts(input_tokens=int(tokens[index]), requested_tier="sonnet",
                                               session_id=session_ids[index // turns_per_session],
                                               request_class=classes[index]))
        served[index] = code[tier_of_target[decision.chain[0].name]]
        propensity[index] = decision.propensity
    rows = np.arange(turns)
    reward = (rng.random(turns) < p_success[rows, served]).astype(np.float64)
    output = (base_output * VERBOSITY[served]).astype(np.int64)
    offsets = np.sort(rng.uniform(0, days * 86_400, turns))
    frame = pl.DataFrame({
        "tokens": tokens, "tier": [TIERS[s] for s in served], "propensity": propensity, "reward": reward,
        "input_tokens": uncached, "output_tokens": output, "cache_creation_tokens": written,
        "cache_read_tokens": read, "session_id": [session_ids[i // turns_per_session] for i in range(turns)],
        "started_at": [start + timedelta(seconds=float(s)) for s in offsets],
        "model": [MODELS[TIERS[s]] for s in served], "policy_version": policy.version,
        "request_class": pl.Series(classes, dtype=pl.Utf8),
    })
    return World(frame, p_success, cost, days)


def oracle(world: World, floor: float, grid: int = 80) -> tuple[Thresholds, float, float]:
    """The cheapest threshold policy whose true quality is at least ``floor``, over a grid of
    token quantiles (plus "never"): (thresholds, cost, quality)."""
    tokens = world.frame["tokens"].to_numpy()
    points = np.unique(np.concatenate([np.quantile(tokens, np.linspace(0, 1, grid)).astype(np.int64),
                                       [int(tokens.max()) + 1]]))
    best: tuple[Thresholds, float, float] | None = None
    rows = np.arange(tokens.size)
    for i, low in enumerate(points):
        for high in points[i:]:
            thresholds = Thresholds(int(low), int(high))
            actions = thresholds.actions(tokens)
            quality = float(world.p_success[rows, actions].mean())
            if quality >= floor:
                cost = float(world.cost[rows, actions].sum())
                if best is None or cost < best[1]:
                    best = (thresholds, cost, quality)
    assert best is not None
    return best


def turn_records(world: World) -> list[Turn]:
    """The sample as Turn records (for the store), ids derived from the row number and seed-free."""
    records = []
    frame = world.frame
    for index, row in enumerate(frame.iter_rows(named=True)):
        start_ns = int(row["started_at"].replace(tzinfo=UTC).timestamp() * 1e9)  # naive values are UTC
        usage = Usage(row["input_tokens"], row["output_tokens"], row["cache_creation_tokens"], 0,
                      row["cache_read_tokens"])
        records.append(Turn(
            trace_id=uuid.UUID(row["session_id"]).bytes, span_id=(index + 1).to_bytes(8, "big"),
            start_ns=start_ns, end_ns=start_ns + 1_000_000_000, status_code=200, session_id=row["session_id"],
            requested_model=MODELS["sonnet"], served_model=row["model"], target=f"anthropic-{row['tier']}",
            policy_version=row["policy_version"], propensity=row["propensity"], rule="replayed",
            request_class=row.get("request_class"),
            estimated_input_tokens=row["tokens"], input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cache_creation_tokens=usage.cache_creation_tokens, cache_read_tokens=usage.cache_read_tokens))
    return records
