"""Any valid policy is a starting point (issue 16, item 1): the project's own reference policy
(docs/examples/policy.yaml: rules for compaction, repos, subagents, thinking and a team before the
tier rules; a haiku rule that also asks for fewer than 40 tools; opus as the default) yields a
proposal that moves only the tier rules' token thresholds, keeps every other rule byte for byte
and in place, lists them in the evidence as "kept as written" with the turns they took (out of the
replay: they route the same under any candidate), and routes as the replay priced it. Policies the
optimizer cannot move are refused with the reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from bench.optimizer_world import START, generate
from core.policy.load import load_policy
from core.policy.schema import Policy
from core.pricing import builtin_price_table
from core.spans import Turn
from optimizer.candidate import params_of
from optimizer.propose import Settings, candidate_problems, propose
from optimizer.turn_facts import TurnFacts
from store.engine import make_engine
from store.policies import activate, create_version
from store.proposal_decisions import approve
from store.testing import migrated_sqlite_url
from tests.optimizer.stored import store_world
from tests.optimizer.test_candidate_validity import routed_tiers

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policy.yaml"
# z=1: on the held-out half of the sessions (optimizer.split) the point estimate's pick (z=0: every
# turn to haiku) is 0.055 worse than the active policy
# min_explored_sessions=4: a 3 000-turn world has a few explored sessions behind each move (the
# opus → sonnet move above 120 K rests on 4); the minimum has tests of its own (test_moves, test_split)
SETTINGS = Settings(start=START, end=START + timedelta(days=7), seed=3, trials=25, min_ess=50.0,
                    min_ess_sessions=10.0, z=1.0, bootstrap_rounds=50, max_quality_loss=0.02, min_explored_sessions=4)
KEPT = ["compaction", "security-repos", "explore-subagents", "big-thinking", "platform-asks-opus"]


def _example(share: float | None = None) -> Policy:
    policy = load_policy(EXAMPLE.read_text())
    if share is None:
        return policy
    assert policy.exploration is not None
    return policy.model_copy(update={"exploration": policy.exploration.model_copy(update={"share": share})})


def _tag_compaction(records: list[Turn]) -> list[Turn]:
    """Every fifth session's turns are compaction calls (the world's routing did not look)."""
    sessions = sorted({record.session_id for record in records})
    tagged = set(sessions[::5])
    return [replace(r, request_class="compaction") if r.session_id in tagged else r for r in records]


def _store(tmp_path: Path, policy: Policy, *, turns: int, seed: int):  # type: ignore[no-untyped-def]
    engine = make_engine(migrated_sqlite_url(tmp_path))
    prices = builtin_price_table()
    create_version(engine, policy, actor="setup", now=START - timedelta(days=1))
    activate(engine, policy.version, actor="setup", now=START - timedelta(days=1))
    world = generate(policy, prices, turns=turns, seed=seed, days=7.0)
    store_world(engine, world, prices, edit=_tag_compaction)
    return engine, world


def test_the_reference_policy_yields_a_proposal_that_keeps_its_other_rules(tmp_path: Path) -> None:
    policy = _example(share=0.3)  # enough explored sessions for a small world's evidence
    engine, world = _store(tmp_path, policy, turns=3_000, seed=11)
    try:
        outcome = propose(engine, builtin_price_table(), SETTINGS)
        assert outcome.proposal is not None, outcome.reason
        candidate = Policy.model_validate(outcome.proposal.document)
        assert candidate_problems(candidate) == []
        before = {rule.name: rule.model_dump(mode="json") for rule in policy.rules}
        after = {rule.name: rule.model_dump(mode="json") for rule in candidate.rules}
        assert [r.name for r in candidate.rules][:len(KEPT)] == KEPT  # in place, first
        assert all(after[name] == before[name] for name in KEPT)  # byte for byte
        assert after["small-turns"]["when"]["tool_count"] == {"gte": None, "lt": 40}  # the limit is kept too
        assert candidate.default == policy.default and candidate.budgets == policy.budgets
        assert candidate.sticky == policy.sticky and candidate.exploration == policy.exploration
        evidence = outcome.proposal.evidence
        kept = {entry["rule"]: entry for entry in evidence["kept_as_written"]}
        assert list(kept) == KEPT and all(entry["note"] == "kept as written" for entry in kept.values())
        assert kept["compaction"]["turns"] > 0 and evidence["turns_routed_by_kept_rules"] == kept["compaction"]["turns"]
        assert evidence["turns"] == world.frame.height - kept["compaction"]["turns"]  # the replay saw the rest
        taken = kept["compaction"]["turns"]
        assert f"Rules kept as written routed {taken:,} turns (compaction {taken:,})" in evidence["rationale"]
        params = params_of(candidate)
        assert params.haiku_limit is not None and params.haiku_limit.tool_count_below == 40

        approve(engine, outcome.proposal.id, actor="alice")
        tokens = world.frame["tokens"].to_numpy()
        facts = TurnFacts(np.zeros(tokens.size, dtype=bool), np.zeros(tokens.size, dtype=np.int64),
                          np.array([None] * tokens.size, dtype=object))
        tiers, rules = routed_tiers(candidate, tokens, facts)
        expected = params.actions(tokens, facts)
        routed = [i for i, rule in enumerate(rules) if rule != "exploration"]
        assert routed and all(tiers[i] == ("haiku", "sonnet", "opus")[expected[i]] for i in routed)
    finally:
        engine.dispose()


def test_the_reference_policy_as_written_reaches_the_guards(tmp_path: Path) -> None:
    """With its 2 % exploration, a small world may not hold enough evidence; the reason is then the
    guards', never "cannot move this policy"."""
    engine, _ = _store(tmp_path, _example(), turns=2_000, seed=12)
    try:
        outcome = propose(engine, builtin_price_table(), SETTINGS)
        assert outcome.proposal is not None or "nothing the optimizer can move" not in outcome.reason, outcome.reason
    finally:
        engine.dispose()


@pytest.mark.parametrize(("change", "reason"), [
    (lambda d: {**d, "targets": [{**t, "tier": None} for t in d["targets"]]}, "no tiered route to change"),
    (lambda d: {**d, "rules": [*d["rules"], {"name": "late-pin", "when": {"team": ["payments"]},
                                             "route": ["opus"]}]}, "'late-pin' come after the tier rules"),
    (lambda d: {**d, "rules": [r for r in d["rules"] if r["name"] != "small-turns"]}, "no haiku rule to move"),
    # a gap between the haiku and sonnet rules: those turns reach the opus default, not sonnet
    (lambda d: {**d, "rules": [{**r, "when": {"input_tokens": {"gte": 30_000, "lt": 120_000}}}
                               if r["name"] == "mid-turns" else r for r in d["rules"]]},
     "sends 20,000 input tokens to opus (rule 'default') where its tier rules read as sonnet"),
])
def test_what_cannot_be_moved_is_refused_with_the_reason(tmp_path: Path, change, reason: str) -> None:  # type: ignore[no-untyped-def]
    document = change(_example().model_dump(mode="json"))
    if "late-pin" not in str(document) and reason != "no haiku rule to move":
        document["exploration"] = None  # exploration targets must name tiers' targets; keep it valid
    policy = Policy.model_validate(document)
    engine = make_engine(migrated_sqlite_url(tmp_path))
    try:
        create_version(engine, policy, actor="setup")
        activate(engine, policy.version, actor="setup")
        outcome = propose(engine, builtin_price_table(), SETTINGS)
        assert outcome.proposal is None and reason in outcome.reason, outcome.reason
    finally:
        engine.dispose()
