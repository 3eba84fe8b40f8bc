"""Policy text ⇄ Policy: YAML or JSON in, every problem reported with where it is; YAML out, in a
stable order, that loads back to an equal Policy.

Loading checks the document's shape (types, names, required fields). Whether the policy makes
sense as a whole (references resolve, rules are reachable…) is validate()'s job, so a tool can load
a flawed policy and show all of its problems; compile_policy() refuses one with errors.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import yaml
from pydantic import ValidationError

from .problems import PolicyError, Problem, location
from .schema import Policy


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys: PyYAML would silently keep the last one, and a
    rule with two ``when:`` blocks would route on only one of them."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})", mark)
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse(text: str) -> object:
    json_problem: Problem | None = None
    if text.lstrip().startswith("{"):  # JSON by its own rules (PyYAML reads 1e3 as a string)…
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            json_problem = Problem(f"line {exc.lineno}, column {exc.colno}", f"invalid JSON: {exc.msg}")
    try:  # …else YAML, which also covers a YAML flow mapping such as {version: v1, …}
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        problem = Problem(where, f"invalid YAML: {exc.problem or exc}")
    except yaml.YAMLError as exc:
        problem = Problem("(document)", f"invalid YAML: {exc}")
    raise PolicyError([json_problem or problem], "policy text") from None


def _problem_from(error: Any) -> Problem:
    message = str(error["msg"])
    if error["type"] == "string_type" and isinstance(error.get("input"), int | float):
        message += " (quote it: YAML reads 1.0 as a number)"
    return Problem(location(error["loc"]), message)


def load_policy(text: str) -> Policy:
    """Parse YAML or JSON text into a Policy. Raises PolicyError listing every problem found."""
    document = _parse(text)
    if not isinstance(document, dict):
        raise PolicyError([Problem("(document)", f"expected a mapping at the top, got {type(document).__name__}")],
                          "policy text")
    try:
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError([_problem_from(e) for e in exc.errors()], "policy text") from None


class _Dumper(yaml.SafeDumper):
    """Block style, keys in schema order, Decimals as plain numbers when that is exact."""


def _represent_decimal(dumper: _Dumper, value: Decimal) -> yaml.Node:
    if value == value.to_integral_value() and abs(value) < 10**15:
        return dumper.represent_int(int(value))
    if Decimal(repr(float(value))) == value:
        return dumper.represent_float(float(value))
    return dumper.represent_str(str(value))  # more digits than a float holds: keep them, quoted


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | Decimal)


def _represent_tuple(dumper: _Dumper, value: tuple[Any, ...]) -> yaml.Node:
    # a chain or a list of names reads best on one line: route: [sonnet-us, sonnet-eu]
    flow = all(_is_scalar(item) for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _represent_dict(dumper: _Dumper, value: dict[str, Any]) -> yaml.Node:
    # a range reads best on one line too: input_tokens: {gte: 20000, lt: 120000}
    flow = 0 < len(value) <= 2 and all(_is_scalar(item) for item in value.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items(), flow_style=flow)


_Dumper.add_representer(Decimal, _represent_decimal)
_Dumper.add_representer(tuple, _represent_tuple)
_Dumper.add_representer(dict, _represent_dict)


def dump_policy(policy: Policy, *, include_defaults: bool = False) -> str:
    """YAML in schema field order. Fields left at their defaults are left out unless
    ``include_defaults`` (use that to archive a version independently of this code's defaults)."""
    data = policy.model_dump(mode="python", exclude_defaults=not include_defaults)
    data = {"version": policy.version, **data}  # required, yet keep it first and present
    return dump_yaml(data)


def dump_yaml(data: object) -> str:
    """Part of a policy (a list of rules, a default) as YAML in the same style as dump_policy."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)
