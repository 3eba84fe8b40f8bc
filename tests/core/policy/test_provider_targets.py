"""Targets of other providers: their fields checked, their endpoint and auth defaulted per provider."""

from __future__ import annotations

import pytest

from core.policy.facts import Decision
from core.policy.load import dump_policy, load_policy
from core.policy.problems import PolicyError
from core.policy.validate import validate

POLICY = """
version: v1
targets:
  - {name: anthropic, base_url: https://api.anthropic.com}
  - {name: bedrock, provider: bedrock, region: us-east-1, model: us.anthropic.claude-haiku-4-5-20251001-v1:0}
  - {name: mantle, provider: bedrock-mantle, region: us-west-2, model: anthropic.claude-haiku-4-5-20251001-v1:0,
     auth: bearer, provider_key: mantle-key}
  - {name: vertex, provider: vertex, region: global, project: acme-claude, model: claude-haiku-4-5@20251001}
default: {route: [anthropic, bedrock, vertex]}
"""


def test_endpoints_and_auth_default_per_provider_and_survive_a_round_trip() -> None:
    policy = load_policy(POLICY)
    by_name = {t.name: t for t in policy.targets}
    assert by_name["bedrock"].base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert by_name["bedrock"].auth == "aws" and not by_name["bedrock"].uses_provider_key
    assert by_name["mantle"].base_url == "https://bedrock-mantle.us-west-2.api.aws/anthropic"
    assert by_name["mantle"].uses_provider_key
    assert by_name["vertex"].base_url == "https://aiplatform.googleapis.com" and by_name["vertex"].auth == "google"
    assert by_name["anthropic"].auth == "x-api-key" and by_name["anthropic"].provider == "anthropic"
    assert [p for p in validate(policy) if p.severity == "error"] == []
    assert load_policy(dump_policy(policy)) == policy


@pytest.mark.parametrize(("target", "path", "words"), [
    ("{name: b, provider: bedrock, region: us-east-1}", "targets[1].model", "needs model"),
    ("{name: v, provider: vertex, region: global, model: m}", "targets[1].project", "needs project"),
    ("{name: v, provider: vertex, region: global, project: acme-claude, model: m, auth: aws}", "targets[1].auth",
     "google"),
    ("{name: b, provider: bedrock, region: us-east-1, model: m, auth: x-api-key}", "targets[1].auth", "aws"),
])
def test_a_target_missing_what_its_provider_needs_is_named(target: str, path: str, words: str) -> None:
    policy = load_policy(f"version: v1\ntargets:\n  - {{name: a, base_url: https://api.anthropic.com}}\n"
                         f"  - {target}\ndefault: {{route: [a]}}\n")
    errors = [p for p in validate(policy) if p.severity == "error"]
    assert [p.path for p in errors] == [path] and words in errors[0].message


def test_a_target_without_the_region_its_endpoint_is_made_from_is_refused_at_load() -> None:
    with pytest.raises(PolicyError, match="needs region"):
        load_policy("version: v1\ntargets:\n  - {name: b, provider: bedrock, model: m}\ndefault: {route: [b]}\n")


@pytest.mark.parametrize("bad", ["{name: b, provider: openai, base_url: https://x.example}",
                                 "{name: b, provider: bedrock, region: 'us-east-1.evil.com/x', model: m}",
                                 "{name: v, provider: vertex, region: global, project: 'a/../b', model: m}"])
def test_unknown_providers_and_regions_or_projects_that_would_change_the_url_are_refused(bad: str) -> None:
    with pytest.raises(PolicyError):
        load_policy(f"version: v1\ntargets:\n  - {bad}\ndefault: {{route: [b]}}\n")


def test_a_rule_model_rewrite_does_not_reach_another_providers_target() -> None:
    policy = load_policy(POLICY.replace("default:", "rules:\n  - {name: r, when: {thinking: true}, route: [bedrock, "
                                        "anthropic], model: claude-opus-4-5}\ndefault:"))
    warnings = [p for p in validate(policy) if p.severity == "warning"]
    assert any(p.path == "rules[0].model" and "'bedrock'" in p.message for p in warnings)
    targets = {t.name: t for t in policy.targets}
    decision = Decision(chain=(targets["bedrock"], targets["anthropic"]), rule="r", version="v1", propensity=1.0,
                        model="claude-opus-4-5")
    assert decision.model_for(targets["bedrock"]) == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert decision.model_for(targets["anthropic"]) == "claude-opus-4-5"
