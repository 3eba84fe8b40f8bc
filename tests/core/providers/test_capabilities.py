"""The capability table: a provider is sent only what it accepts, a beta and its body part together."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from core.providers.capabilities import fit, load_capabilities, split_betas
from sim.provider_capabilities import (
    BEDROCK_CAPABILITIES,
    MANTLE_CAPABILITIES,
    VERTEX_CAPABILITIES,
    extraneous_fields,
    locked_fields,
    unknown_betas,
)

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
    # what is left is what the fake provider (modelled on the real service's refusals) accepts
    fake = {"bedrock": BEDROCK_CAPABILITIES, "bedrock-mantle": MANTLE_CAPABILITIES, "vertex": VERTEX_CAPABILITIES}
    if provider != "bedrock-mantle":
        body.pop("model", None)
        body.setdefault("anthropic_version", "x")
    assert unknown_betas(fake[provider], kept) == []
    assert extraneous_fields(fake[provider], body) == [] and locked_fields(fake[provider], body, kept) == []
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
  fields: [messages]
  unlocked_by:
    context_management: [context-management-2025-06-27]
    "tools[].defer_loading": [tool-search-tool-2025-10-19]
""")["bedrock"]
    body = {"messages": [], "context_management": {"edits": []}, "brand_new_field": 1}
    kept, dropped = fit(table, ["context-management-2025-06-27", "future-beta-2027-01-01"], body)
    assert kept == ["context-management-2025-06-27"]
    assert body == {"messages": [], "context_management": {"edits": []}}
    assert dropped == ["beta:future-beta-2027-01-01", "field:brand_new_field"]


def test_a_tool_key_tied_to_a_dropped_beta_leaves_every_tool_and_the_callers_copy_alone() -> None:
    table = load_capabilities("""
vertex:
  betas: [tool-search-tool-2025-10-19]
  fields: [tools]
  tool_fields: [name, input_schema, type]
  unlocked_by:
    "tools[].defer_loading": [tool-search-tool-2025-10-19]
""")["vertex"]
    tools = [{"name": "a", "defer_loading": True, "strict": True}, {"name": "b"}, {"type": "web_search_20250305",
                                                                                    "name": "web", "max_uses": 3}]
    body = {"tools": tools}
    _, dropped = fit(table, ["advanced-tool-use-2025-11-20"], body)
    assert body["tools"] == [{"name": "a"}, {"name": "b"}, tools[2]]  # a server tool keeps its own shape
    assert tools[0] == {"name": "a", "defer_loading": True, "strict": True}  # the shared request is not changed
    assert dropped == ["beta:advanced-tool-use-2025-11-20", "field:tools[].defer_loading", "field:tools[].strict"]
    # with the beta that unlocks it, the key stays
    body = {"tools": [{"name": "a", "defer_loading": True}]}
    assert fit(table, ["tool-search-tool-2025-10-19"], body) == (["tool-search-tool-2025-10-19"], [])


def test_an_object_left_empty_by_a_drop_goes_too() -> None:
    table = load_capabilities("""
bedrock:
  betas: []
  fields: [thinking]
  unlocked_by:
    thinking.display: [thinking-display-updates-2026-08-18]
""")["bedrock"]
    body = {"thinking": {"display": "updates"}}
    fit(table, ["thinking-display-updates-2026-08-18"], body)
    assert body == {}
