"""What Bedrock's InvokeModel refuses in a Claude body, with its words.

Two layers, as on the real service: Bedrock's own JSON-schema check first ("Malformed input request:
#: extraneous key [model] is not permitted, please reformat your input and try again." — every
violation listed, comma separated), then the model's ("invalid beta flag", "context_management:
Extra inputs are not permitted" for a field whose beta is off). Pure: data in, a message or None out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.aws_errors import INVALID_BETA_MESSAGE
from sim.bedrock_config import BEDROCK_VERSION
from sim.provider_capabilities import Capabilities, extraneous_fields, locked_fields, unknown_betas

REQUIRED_KEYS = ("anthropic_version", "max_tokens", "messages")
_JSON_TYPES = {dict: "JSONObject", list: "JSONArray", str: "String", bool: "Boolean", int: "Integer",
               float: "Number", type(None): "Null"}


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "Unknown")


def malformed(violations: list[str]) -> str:
    return f"Malformed input request: {', '.join(violations)}, please reformat your input and try again."


def body_betas(body: dict[str, Any]) -> list[str]:
    betas = body.get("anthropic_beta", [])
    return [beta for beta in betas if isinstance(beta, str)] if isinstance(betas, list) else []


def schema_violations(body: Any, capabilities: Capabilities) -> list[str]:
    if not isinstance(body, dict):
        return [f"#: expected type: JSONObject, found: {json_type(body)}"]
    violations = [f"#: required key [{key}] not found" for key in REQUIRED_KEYS if key not in body]
    violations += [f"#: extraneous key [{key}] is not permitted" for key in extraneous_fields(capabilities, body)]
    version = body.get("anthropic_version", BEDROCK_VERSION)
    if version != BEDROCK_VERSION:
        violations.append(f"#/anthropic_version: {version} is not a valid enum value")
    betas = body.get("anthropic_beta", [])
    if not isinstance(betas, list) or not all(isinstance(beta, str) for beta in betas):
        violations.append(f"#/anthropic_beta: expected type: JSONArray of String, found: {json_type(betas)}")
    if "max_tokens" in body and (not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool)):
        violations.append(f"#/max_tokens: expected type: Integer, found: {json_type(body['max_tokens'])}")
    if "messages" in body and not isinstance(body["messages"], list):
        violations.append(f"#/messages: expected type: JSONArray, found: {json_type(body['messages'])}")
    return violations


def invoke_body_problem(body: Any, capabilities: Capabilities, header: Sequence[str] = ()) -> str | None:
    """The message Bedrock answers a bad InvokeModel body with (400 ValidationException), or None.

    Betas count from the body's ``anthropic_beta`` and from an ``anthropic-beta`` header alike: the
    Anthropic SDKs' Bedrock clients send some in each (Claude Code's effort beta rides in the header),
    and Bedrock refuses an unknown one in either ("invalid beta flag").
    """
    if violations := schema_violations(body, capabilities):
        return malformed(violations)
    betas = [*body_betas(body), *header]
    if unknown_betas(capabilities, betas):
        return INVALID_BETA_MESSAGE
    if locked := locked_fields(capabilities, body, betas):
        return f"{locked[0]}: Extra inputs are not permitted"
    return None
