"""The replay's input, read from the store: one row per scored turn with its estimated input
tokens, the tier that served it, the logged propensity, its outcome (0..1), its token usage, its
session id (the replay's bootstrap resamples whole sessions) and the routing facts segment
overrides select on (thinking, tools offered, repo).

The outcome is the *lowest* of the turn's quality scores: a turn is good only when no evaluator
marked it down. (A mean over eight evaluators would turn a failed edit into 7/8 and shrink every
difference between tiers eightfold.) Cost and latency evaluators are not quality and are left out
by default: cost is what the optimizer minimises (scoring it again would count it twice and pull
toward cheap tiers), and latency has its own SLO. Turns without a propensity (routed before the proxy recorded one) or
without a score cannot inform an off-policy estimate and are left out; ``Loaded`` counts them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl
from sqlalchemy import Engine, Text, cast, func, select

from core.pricing import PriceTable
from store.schema import policy_versions, scores, turns

_SCHEMA = {"started_at": pl.Datetime("us"), "tokens": pl.Int64(), "model": pl.String(), "requested_model": pl.String(),
           "policy_version": pl.String(), "propensity": pl.Float64(), "input_tokens": pl.Int64(),
           "output_tokens": pl.Int64(), "cache_creation_tokens": pl.Int64(), "cache_read_tokens": pl.Int64(),
           "cache_creation_1h_tokens": pl.Int64(), "reward": pl.Float64(), "session_id": pl.String(),
           "thinking": pl.Boolean(), "tool_count": pl.Int64(),
           "repo": pl.String(), "request_class": pl.String(), "agent_type": pl.String(), "team": pl.String(),
           "developer": pl.String(), "fallback_hops": pl.String(),  # JSON text: parsed only where not "[]"
           "target": pl.String(), "unserved": pl.Boolean()}  # read by attribute_unserved, then dropped


NOT_QUALITY = ("cost_outlier", "latency_slo")
# (policy version, target name) → the target's tier; a key (None, name) serves any version
TargetTiers = Mapping[tuple[str | None, str], str]


@dataclass(frozen=True, slots=True)
class Loaded:
    # optimizer.replay.REQUIRED + started_at, policy_version, requested_tier, session_id, and the routing facts
    # thinking, tool_count and repo (optimizer.turn_facts); request_class, agent_type, team and developer
    # tell which turns a rule the optimizer keeps as written catches (optimizer.kept_rules)
    frame: pl.DataFrame
    turns: int  # turns in the window
    usable: int  # of which have a propensity, a tier and a score
    days: float  # the window's length
    fell_back: int = 0  # usable turns served by a fallback hop, counted against their primary (attribute_fallbacks)


def load_turns(engine: Engine, prices: PriceTable, start: datetime, end: datetime, *,
               evaluators: Sequence[str] | None = None, excluded: Sequence[str] = NOT_QUALITY,
               policy_version: str | None = None, fallback_reward: float | None = 0.0) -> Loaded:
    """Turns started in [start, end) (optionally only those routed by ``policy_version``), their
    outcome from ``evaluators`` (all when None) except ``excluded``. A turn a fallback hop served
    counts against the tier its policy decided, with a reward of at most ``fallback_reward``
    (attribute_fallbacks; None leaves it as logged: the served tier, its own score)."""
    score = select(scores.c.trace_id, scores.c.span_id, func.min(scores.c.value).label("reward"))
    if evaluators is not None:
        score = score.where(scores.c.evaluator.in_(list(evaluators)))
    if excluded:
        score = score.where(scores.c.evaluator.not_in(list(excluded)))
    score_sq = score.group_by(scores.c.trace_id, scores.c.span_id).subquery()
    window = [turns.c.started_at >= start, turns.c.started_at < end]
    if policy_version is not None:
        window.append(turns.c.policy_version == policy_version)
    query = (select(turns.c.started_at, turns.c.estimated_input_tokens.label("tokens"),
                    func.coalesce(turns.c.served_model, turns.c.requested_model).label("model"),
                    turns.c.requested_model, turns.c.policy_version, turns.c.propensity, turns.c.input_tokens,
                    turns.c.output_tokens, turns.c.cache_creation_tokens, turns.c.cache_read_tokens,
                    turns.c.cache_creation_1h_tokens, score_sq.c.reward, turns.c.session_id, turns.c.thinking,
                    turns.c.tool_count, turns.c.repo, turns.c.request_class, turns.c.agent_type, turns.c.team,
                    turns.c.developer, cast(turns.c.fallback_hops, Text).label("fallback_hops"), turns.c.target,
                    turns.c.served_model.is_(None).label("unserved"))
             .join(score_sq, (score_sq.c.trace_id == turns.c.trace_id) & (score_sq.c.span_id == turns.c.span_id))
             .where(*window)
             .order_by(turns.c.started_at, turns.c.trace_id, turns.c.span_id))  # same rows, same order, same fit
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(turns).where(*window)).scalar_one()
        rows = connection.execute(query).all()
    frame = pl.DataFrame([tuple(row) for row in rows], schema=_SCHEMA, orient="row")
    frame = with_tiers(frame, prices)
    tiers = target_tiers(engine, prices)
    frame = attribute_unserved(frame, tiers).drop("target", "unserved")
    if fallback_reward is not None:
        frame = attribute_fallbacks(frame, tiers, failed_reward=fallback_reward)
    frame = frame.drop_nulls(["tokens", "tier", "propensity", "reward"])
    fell_back = int(fell_back_mask(frame).sum()) if fallback_reward is not None else 0
    return Loaded(frame, int(total), frame.height, (end - start).total_seconds() / 86_400, fell_back)


def with_tiers(frame: pl.DataFrame, prices: PriceTable) -> pl.DataFrame:
    """Add ``tier`` (of the model that served the turn) and ``requested_tier`` by the one tier
    function (core.pricing.PriceTable.tier_of), looking each distinct model id up once."""
    models = set(frame["model"].drop_nulls().to_list()) | set(frame["requested_model"].drop_nulls().to_list())
    tier_of = {model: prices.tier_of(model) for model in models}
    return frame.with_columns(
        pl.col("model").replace_strict(tier_of, default=None, return_dtype=pl.String()).alias("tier"),
        pl.col("requested_model").replace_strict(tier_of, default=None, return_dtype=pl.String())
        .alias("requested_tier"))


def attribute_unserved(frame: pl.DataFrame, target_tiers: TargetTiers) -> pl.DataFrame:
    """A turn no model served (its target answered an error, or nothing, and the chain had nowhere
    else to go, so no fallback hop was recorded) is its target's tier: the tier the policy decided.
    Its ``model`` falls back to the model the *client* asked for, which the policy may have
    rewritten (a haiku-decided 529 would read as the requested opus's failure). By the turn's policy
    version, else any version that names the target; unknown targets keep the requested tier."""
    if "unserved" not in frame.columns or frame.height == 0:
        return frame
    mask = (frame["unserved"] & frame["target"].is_not_null()).fill_null(False)
    if not mask.any():
        return frame
    names, versions, tiers = frame["target"], frame["policy_version"], frame["tier"].to_list()
    for index in np.flatnonzero(mask.to_numpy()):
        name, version = names[int(index)], versions[int(index)]
        tiers[index] = target_tiers.get((version, name), target_tiers.get((None, name), tiers[index]))
    return frame.with_columns(pl.Series("tier", tiers, dtype=pl.String()))


def fell_back_mask(frame: pl.DataFrame) -> pl.Series:
    """Per row: whether a fallback hop served the turn (``fallback_hops`` as the store's JSON text, or a list)."""
    column = frame["fallback_hops"]
    if column.dtype == pl.String():
        return (column.is_not_null() & (column.str.strip_chars() != "[]")).fill_null(False)
    return (column.list.len() > 0).fill_null(False)


def primary_target(hops: Sequence[str]) -> str | None:
    """The target a fallback chain tried first: its first hop, ``name:outcome`` (a status, a failure
    kind, or ``breaker_open`` when its open circuit passed it over; a name may itself hold ``:``,
    the outcome never does)."""
    return hops[0].rsplit(":", 1)[0] if hops else None


def attribute_fallbacks(frame: pl.DataFrame, target_tiers: TargetTiers, *,
                        failed_reward: float = 0.0) -> pl.DataFrame:
    """Count a turn a fallback hop served as a failed outcome of the tier its policy *decided*.

    The proxy logs the decision's propensity, which is the primary target's (the chain's first),
    while the served model is the fallback's. Left as it was, such a turn is evidence about the tier
    that rescued it, weighted by a propensity it never had (0.98 for a sonnet-served turn the policy
    sent to opus), and the primary's 529s and timeouts never count against it. So the turn's tier
    becomes its first hop's target's tier (by the turn's policy version, else any version that names
    the target) and its reward at most ``failed_reward`` (0: the primary failed it, by an error or
    because its circuit was still open from a recent one: proxy.chain records either). A turn whose
    first hop names no known tiered target cannot be attributed and loses its tier (the caller drops
    it)."""
    if "fallback_hops" not in frame.columns or frame.height == 0:
        return frame
    mask = fell_back_mask(frame)
    if not mask.any():
        return frame
    rows = np.flatnonzero(mask.to_numpy())
    hops, versions = frame["fallback_hops"], frame["policy_version"] if "policy_version" in frame.columns else None
    tiers = frame["tier"].to_list()
    for index in rows:
        chain = hops[int(index)]
        chain = json.loads(chain) if isinstance(chain, str) else chain.to_list() if isinstance(chain, pl.Series) \
            else chain
        name = primary_target(chain) or ""
        version = versions[int(index)] if versions is not None else None
        tiers[index] = target_tiers.get((version, name), target_tiers.get((None, name)))
    return frame.with_columns(
        pl.Series("tier", tiers, dtype=pl.String()),
        pl.when(mask).then(pl.min_horizontal(pl.col("reward"), pl.lit(failed_reward))).otherwise(pl.col("reward"))
        .alias("reward"))


def target_tiers(engine: Engine, prices: PriceTable) -> dict[tuple[str | None, str], str]:
    """(version, target name) → tier for every stored policy version's tiered targets (a target
    without a tier by its model's, core.pricing), and (None, name) → the newest version's tier for
    the name: what attribute_fallbacks looks a primary target up in."""
    found: dict[tuple[str | None, str], str] = {}
    with engine.connect() as connection:
        rows = connection.execute(select(policy_versions.c.version, policy_versions.c.document)
                                  .order_by(policy_versions.c.created_at)).all()
    for version, document in rows:
        for target in (document or {}).get("targets", ()):
            name = target.get("name")
            tier = target.get("tier") or (prices.tier_of(target["model"]) if target.get("model") else None)
            if isinstance(name, str) and tier:
                found[(version, name)] = tier
                found[(None, name)] = tier  # the newest version wins
    return found
