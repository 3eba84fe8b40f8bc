"""What each fake provider accepts, as data: betas, top-level body fields, fields a beta unlocks, and the
fields of a custom tool. Tests vary it with ``dataclasses.replace`` (or ``with_betas``) to play a
provider release that gained or lost a capability.

The defaults follow what the real services were seen to accept in 2025–26 (the beta list AWS documents
for Claude on Bedrock; Vertex AI's is close to it). Claude Code sends more than any of them accepts:
its newer betas and fields are what a gateway's capability table must drop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

# The Messages API body every provider accepts.
CORE_FIELDS = frozenset(
    {"messages", "max_tokens", "system", "metadata", "stop_sequences", "temperature", "top_k", "top_p", "tools",
     "tool_choice", "thinking"}
)
TOOL_FIELDS = frozenset({"name", "description", "input_schema", "cache_control", "type"})

PROVIDER_BETAS = frozenset(
    {
        "claude-code-20250219",
        "interleaved-thinking-2025-05-14",
        "context-management-2025-06-27",
        "effort-2025-11-24",
        "context-1m-2025-08-07",
        "tool-search-tool-2025-10-19",
        "tool-examples-2025-10-29",
        "token-efficient-tools-2025-02-19",
        "output-128k-2025-02-19",
        "computer-use-2025-01-24",
    }
)
# A body field that exists only with its beta on (a beta dropped means its field must go too).
BETA_FIELDS: Mapping[str, str] = {
    "context_management": "context-management-2025-06-27",
    "output_config": "effort-2025-11-24",
}
BETA_TOOL_FIELDS: Mapping[str, str] = {
    "defer_loading": "tool-search-tool-2025-10-19",
    "input_examples": "tool-examples-2025-10-29",
    "eager_input_streaming": "fine-grained-tool-streaming-2025-05-14",
}


@dataclass(frozen=True, slots=True)
class Capabilities:
    betas: frozenset[str]
    fields: frozenset[str]
    beta_fields: Mapping[str, str] = field(default_factory=lambda: dict(BETA_FIELDS))
    tool_fields: frozenset[str] = TOOL_FIELDS
    beta_tool_fields: Mapping[str, str] = field(default_factory=lambda: dict(BETA_TOOL_FIELDS))

    def with_betas(self, *betas: str) -> Capabilities:
        return replace(self, betas=self.betas | set(betas))

    def without_betas(self, *betas: str) -> Capabilities:
        return replace(self, betas=self.betas - set(betas))


# Bedrock InvokeModel: betas in the body's anthropic_beta; no model, no stream.
BEDROCK_CAPABILITIES = Capabilities(PROVIDER_BETAS, CORE_FIELDS | {"anthropic_version", "anthropic_beta"})
# Vertex AI rawPredict: betas in the anthropic-beta header; anthropic_version in the body; no model.
VERTEX_CAPABILITIES = Capabilities(PROVIDER_BETAS, CORE_FIELDS | {"anthropic_version", "stream"})
# Bedrock Mantle: the native Messages shape (model and stream in the body, betas in the header).
MANTLE_CAPABILITIES = Capabilities(PROVIDER_BETAS, CORE_FIELDS | {"model", "stream"})


def unknown_betas(capabilities: Capabilities, betas: Sequence[str]) -> list[str]:
    return [beta for beta in betas if beta not in capabilities.betas]


def extraneous_fields(capabilities: Capabilities, body: Mapping[str, Any]) -> list[str]:
    """Top-level keys the provider's schema does not know at all."""
    return [key for key in body if key not in capabilities.fields and key not in capabilities.beta_fields]


def locked_fields(capabilities: Capabilities, body: Mapping[str, Any], betas: Sequence[str]) -> list[str]:
    """Paths of fields the provider knows but only with a beta the request did not turn on, the
    top-level ones first, then custom tools' (``tools.3.custom.defer_loading``)."""
    enabled = set(betas) & capabilities.betas
    paths = [key for key in body if key in capabilities.beta_fields and capabilities.beta_fields[key] not in enabled]
    tools = body.get("tools")
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
            continue  # server tools (web search, bash …) have shapes of their own
        for key in tool:
            if key in capabilities.tool_fields:
                continue
            if capabilities.beta_tool_fields.get(key) not in enabled:
                paths.append(f"tools.{index}.custom.{key}")
    return paths


def header_betas(value: str | None) -> list[str]:
    """The ``anthropic-beta`` header as a list (comma separated, blanks ignored)."""
    return [beta.strip() for beta in (value or "").split(",") if beta.strip()]
