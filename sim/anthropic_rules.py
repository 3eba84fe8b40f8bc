"""What the Anthropic API behind Vertex AI (and Bedrock Mantle) refuses, with its words: one problem
at a time, ``<path>: <reason>`` as its validation reports it. Pure: data in, a message or None out.
"""

from __future__ import annotations

from typing import Any

from sim.provider_capabilities import Capabilities, extraneous_fields, locked_fields, unknown_betas


def unexpected_betas_message(betas: list[str]) -> str:
    listed = ", ".join(f"`{beta}`" for beta in betas)
    return (f"Unexpected value(s) {listed} for the `anthropic-beta` header. Please consult our documentation at "
            "docs.anthropic.com or try again without the header.")


def messages_body_problem(
    body: Any, capabilities: Capabilities, betas: list[str], *, required: tuple[str, ...] = ("max_tokens", "messages")
) -> str | None:
    """The first reason the body is refused (400 invalid_request_error), or None."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if unknown := unknown_betas(capabilities, betas):
        return unexpected_betas_message(unknown)
    for key in required:
        if key not in body:
            return f"{key}: Field required"
    if not isinstance(body.get("messages"), list):
        return "messages: Input should be a valid list"
    max_tokens = body.get("max_tokens", 0)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        return "max_tokens: Input should be a valid integer"
    problems = extraneous_fields(capabilities, body) + locked_fields(capabilities, body, betas)
    if problems:
        return f"{problems[0]}: Extra inputs are not permitted"
    return None


def too_long_message(tokens: int, maximum: int) -> str:
    """The text Claude Code's auto-compact recovery matches on the Anthropic API (and Vertex AI)."""
    return f"prompt is too long: {tokens} tokens > {maximum} maximum"


def invalid_signature_message(path: str) -> str:
    return f"{path}: Invalid `signature` in `thinking` block"
