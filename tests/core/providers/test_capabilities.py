"""The capability table: a provider is sent only what it accepts, a beta and its body part together."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from core.providers.capabilities import fit, load_capabilities, split_betas

FIXTURES = Path(__file__).parents[2] / "e2e" / "fixtures"


def _claude_code_request() -> tuple[list[str], dict]:
    recorded = json.loads((FIXTURES / "claude-code-2.1.330-main.json").read_text())
    headers = dict(recorded["headers"]) if isinstance(recorded["headers"], list) else recorded["headers"]
    body = recorded["body"] if isinstance(recorded["body"], dict) else json.loads(recorded["body"])
    return split_betas(headers["anthropic-beta"]), body


@pytest.mark.parametrize("provider", ["bedrock", "bedrock-mantle", "vertex"])
def test_what_claude_code_sends_is_cut_to_what_the_provider_accepts(provider: str) -> None:
    table = load_capabilities()[provider]
    betas, body = _claude_code_request()
    original = copy.deepcopy(body)
    kept, dropped = fit(table, betas, body)
    assert set(kept) <= table.betas and set(body) <= table.fields
    # every beta Claude Code sent is either kept or named as dropped
    assert sorted(kept + [d.removeprefix("beta:") for d in dropped if d.startswith("beta:")]) == sorted(betas)
    # a dropped beta takes its body half with it: thinking.display lives only with its beta
    assert "beta:thinking-display-updates-2026-08-18" in dropped
    assert "display" not in body.get("thinking", {})
    assert "field:thinking.display" in dropped
    # what is kept is passed on unchanged
    assert body["messages"] == original["messages"] and body["system"] == original["system"]


def test_a_kept_beta_keeps_its_body_part_and_an_unknown_field_goes() -> None:
    table = load_capabilities("""
bedrock:
  betas: [context-management-2025-06-27]
  fields: [messages, context_management]
  beta_parts:
    context-management-2025-06-27: [context_management]
    advanced-tool-use-2025-11-20: ["tools[].defer_loading"]
""")["bedrock"]
    body = {"messages": [], "context_management": {"edits": []}, "brand_new_field": 1}
    kept, dropped = fit(table, ["context-management-2025-06-27", "future-beta-2027-01-01"], body)
    assert kept == ["context-management-2025-06-27"]
    assert body == {"messages": [], "context_management": {"edits": []}}
    assert dropped == ["beta:future-beta-2027-01-01", "field:brand_new_field"]


def test_a_tool_key_tied_to_a_dropped_beta_leaves_every_tool_and_the_callers_copy_alone() -> None:
    table = load_capabilities("""
vertex:
  betas: []
  fields: [tools]
  beta_parts:
    advanced-tool-use-2025-11-20: ["tools[].defer_loading"]
""")["vertex"]
    tools = [{"name": "a", "defer_loading": True}, {"name": "b"}]
    body = {"tools": tools}
    _, dropped = fit(table, ["advanced-tool-use-2025-11-20"], body)
    assert body["tools"] == [{"name": "a"}, {"name": "b"}]
    assert tools[0] == {"name": "a", "defer_loading": True}  # the shared parsed request is not changed
    assert dropped == ["beta:advanced-tool-use-2025-11-20", "field:tools[].defer_loading"]


def test_an_object_left_empty_by_a_drop_goes_too() -> None:
    table = load_capabilities("""
bedrock:
  betas: []
  fields: [output_config]
  beta_parts:
    effort-2025-11-24: [output_config.effort]
""")["bedrock"]
    body = {"output_config": {"effort": "medium"}}
    fit(table, ["effort-2025-11-24"], body)
    assert body == {}
