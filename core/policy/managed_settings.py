"""Managed settings per group: the ``managed_settings`` block of a policy, served to signed-in Claude
Code at ``GET /managed/settings`` (Claude Code's gateway protocol).

A settings document is a JSON object in Claude Code's settings format (``env``, ``permissions``,
``model``…). The block has a ``default`` document and ordered ``groups`` entries; a caller gets the
first entry naming one of its groups, laid over the default (top-level keys replace the default's,
``env`` is merged variable by variable), or the default alone, or nothing (404) when the default is
null and no entry matched. The built-in default switches on ``CLAUDE_CODE_GATEWAY_HINT_HEADERS``, so
every signed-in Claude Code sends the routing hint headers.

The checksum must be the one Claude Code computes itself: ``sha256:`` + hex SHA-256 of
``JSON.stringify`` of the document with its keys sorted (recursively). The CLI sends it back in
``If-None-Match`` (quoted) and treats a 304 as "keep what you have", so a byte of difference between
our serialisation and JavaScript's means a client that never gets a 304 or, worse, trusts a stale
copy. :func:`js_json` therefore writes JSON exactly as V8 does for the values a document may hold,
and :func:`settings_problem` refuses the values where that is not certain (and what the CLI refuses
to read: ``__proto__`` keys, ``-0``, deep nesting).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

HINT_HEADERS = "CLAUDE_CODE_GATEWAY_HINT_HEADERS"
DEFAULT_SETTINGS: dict[str, Any] = {"env": {HINT_HEADERS: "1"}}  # never mutated: copied where it is used
MAX_DOCUMENT_BYTES = 64 * 1024  # one document, as served (Claude Code's own managed file is small too)
MAX_DEPTH = 32  # Claude Code reads up to 5000 levels; no real settings document nests past a handful
MAX_GROUP_ENTRIES = 200
MAX_GROUP_CHARS = 256
_SAFE_INTEGER = 2**53 - 1  # past this a JavaScript number is no longer the integer written
# An object key V8 enumerates before all others, in numeric order, whatever the insertion order.
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_MAX_ARRAY_INDEX = 2**32 - 2


def _is_array_index(key: str) -> bool:
    return _ARRAY_INDEX.fullmatch(key) is not None and int(key) <= _MAX_ARRAY_INDEX


def _js_key_order(keys: list[str]) -> list[str]:
    """The order ``JSON.stringify`` writes an object's keys in after Claude Code sorted them:
    ``Object.keys(o).sort()`` (UTF-16 code units), then re-inserted, and V8 lists array-index keys
    first, ascending."""
    ordered = sorted(keys, key=lambda key: key.encode("utf-16-be"))
    indexes = sorted((key for key in ordered if _is_array_index(key)), key=int)
    return indexes + [key for key in ordered if not _is_array_index(key)]


def _js_number(value: int | float) -> str:
    """A number as ECMAScript's Number::toString writes it (the shortest round-trip digits, which
    Python's repr also finds, laid out by JavaScript's rules on where an exponent starts)."""
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    k = len(digits)
    n = len(digit_tuple) + exponent  # value = 0.d1…dk × 10^n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") + str(abs(e))
    return sign + text


def js_json(value: Any) -> str:
    """``JSON.stringify(sortKeysDeep(value))`` as V8 writes it (no whitespace, non-ASCII as is)."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, int | float):
        return _js_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(js_json(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(key, ensure_ascii=False)}:{js_json(value[key])}"
                              for key in _js_key_order(list(value))) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def checksum(settings: Mapping[str, Any]) -> str:
    """The checksum Claude Code computes of a settings document (and sends back in If-None-Match)."""
    return "sha256:" + hashlib.sha256(js_json(settings).encode("utf-8")).hexdigest()


def _value_problem(value: Any, where: str, depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return f"{where}: nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        if isinstance(value, str) and "\x00" in value:
            return f"{where}: a string holds a NUL character"
        return None
    if isinstance(value, int):
        return None if abs(value) <= _SAFE_INTEGER else f"{where}: {value} is past JavaScript's exact integers"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"{where}: not a finite number"
        if value == 0 and math.copysign(1, value) < 0:
            return f"{where}: -0 (Claude Code refuses it)"
        if abs(value) > _SAFE_INTEGER:  # PostgreSQL's JSONB gives such a number back as an integer
            return f"{where}: {value} is past JavaScript's exact integers"
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = _value_problem(item, f"{where}[{index}]", depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where}: key {key!r} is not a string"
            if key == "__proto__":
                return f"{where}: a __proto__ key (Claude Code refuses the whole document)"
            problem = _value_problem(item, f"{where}.{key}", depth + 1)
            if problem:
                return problem
        return None
    return f"{where}: {type(value).__name__} is not a JSON value"


def settings_problem(settings: object, where: str = "settings") -> str | None:
    """Why ``settings`` cannot be served as a managed settings document, or None."""
    if not isinstance(settings, Mapping):
        return f"{where}: must be a JSON object (Claude Code's settings format), not {type(settings).__name__}"
    problem = _value_problem(settings, where, 0)
    if problem:
        return problem
    env = settings.get("env")
    if env is not None:
        if not isinstance(env, Mapping):
            return f"{where}.env: must be an object of environment variables"
        for name, value in env.items():
            if not isinstance(value, str):
                return f"{where}.env.{name}: environment values are strings (write \"{value}\" in quotes)"
    permissions = settings.get("permissions")
    if permissions is not None and not isinstance(permissions, Mapping):
        return f"{where}.permissions: must be an object (allow, deny, ask…)"
    size = len(js_json(settings).encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        return f"{where}: {size} bytes as served; at most {MAX_DOCUMENT_BYTES}"
    return None


def _document(value: Any, where: str) -> Any:
    problem = settings_problem(value, where)
    if problem:
        raise ValueError(problem)
    return dict(value)


class GroupSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str = Field(min_length=1, max_length=MAX_GROUP_CHARS, description="an IdP group (the bearer's groups)")
    settings: dict[str, Any] = Field(description="Claude Code settings, laid over the default document")

    @field_validator("settings", mode="before")
    @classmethod
    def _settings(cls, value: Any) -> Any:
        return _document(value, "settings")


class ManagedSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default: dict[str, Any] | None = Field(
        default_factory=lambda: copy.deepcopy(DEFAULT_SETTINGS),
        description="served when no group entry matches; null: those callers get 404 (no settings)")
    groups: tuple[GroupSettings, ...] = Field((), max_length=MAX_GROUP_ENTRIES,
                                              description="first entry naming one of the caller's groups wins")

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        return None if value is None else _document(value, "default")


def _overlay(base: Mapping[str, Any], group: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**base, **group}
    base_env, group_env = base.get("env"), group.get("env")
    if isinstance(base_env, Mapping) and isinstance(group_env, Mapping):
        merged["env"] = {**base_env, **group_env}
    return merged


def settings_for(managed: ManagedSettings, groups: tuple[str, ...]) -> tuple[str, dict[str, Any]] | None:
    """(which entry: ``group:<name>`` or ``default``, the document) for a caller in ``groups``;
    None when nothing is configured for it."""
    for entry in managed.groups:
        if entry.group in groups:
            return f"group:{entry.group}", _overlay(managed.default or {}, entry.settings)
    if managed.default is None:
        return None
    return "default", dict(managed.default)


def payload(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The response body: ``{"uuid", "checksum", "settings"}``; the uuid is the checksum, as
    Anthropic's gateway does (a document's identity is its content)."""
    digest = checksum(settings)
    return {"uuid": digest, "checksum": digest, "settings": dict(settings)}
