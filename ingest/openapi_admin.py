"""What the OpenAPI schema says about the control-plane endpoints: the status codes each can answer
(all JSON ``{"detail": …}`` bodies) and the policy request body, which the handler reads raw
because it may be YAML as well as JSON."""

from __future__ import annotations

from typing import Any

_DESCRIPTIONS = {
    200: "OK",
    304: "Not modified: the snapshot still matches If-None-Match",
    400: "The body cannot be read (not UTF-8 text, not JSON)",
    401: "No bearer token, or one that is not configured",
    404: "No such policy version, key or proposal; or the month is not closed",
    409: "Conflicts with what is stored (a version is immutable; nothing to roll back to; a proposal already "
         "decided or made against a version that is no longer active; a month that has not ended)",
    413: "The body is larger than the limit",
    422: "Invalid input; a refused policy lists every problem found",
    503: "The database is unavailable",
}
_ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}, "severity": {"type": "string"}}}},
    },
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Fresh dicts: FastAPI may merge into them."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"description": _DESCRIPTIONS[code]}
        if code >= 400:
            entry["content"] = {"application/json": {"schema": dict(_ERROR)}}
        documented[code] = entry
    return documented


def policy_body() -> dict[str, Any]:
    """``openapi_extra`` for POST /admin/policies."""
    return {"requestBody": {
        "required": True,
        "description": "A routing policy document (docs/policy.md), as YAML or JSON",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }}
