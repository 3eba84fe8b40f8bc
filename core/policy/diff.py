"""What changed between two policy versions: as data, stored with the optimizer's evidence and
shown in the dashboard, and as the few lines a reviewer reads before approving (``render_diff``):

    policy v7 → v8
    + target opus-eu
    ~ exploration: share 0.02 → 0.05; segments[0].share 0.05 → 0.08
    - rule legacy-large
    ~ rule small-turns: when.input_tokens.lt 20000 → 12000
    ↕ rule explore: position 0 → 2
    ~ fallback: max_hops 3 → 2

Targets, sticky pools and rules are matched by name, budgets by (scope, name); rules also report a
change of relative order. The exploration block is compared field by field like ``default`` (a
block added or removed is every field against None, rendered ``+ exploration: …`` or
``- exploration``); so is ``guardrails`` (its overrides and allow-lists are lists: an item added or
removed shows the list before and after). Values are the schema's JSON form, so ``to_dict()`` is
ready for ``json.dumps`` and ``PolicyDiff.from_dict`` reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .schema import Policy

Json = Any  # a value of the schema's JSON form: str, int, float, bool, None, list or dict


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str  # dotted, e.g. "when.input_tokens.lt" or "split[1].weight"
    before: Json
    after: Json


@dataclass(frozen=True, slots=True)
class ItemChange:
    name: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, slots=True)
class Move:
    name: str
    before: int  # index in the old rules list
    after: int  # index in the new rules list


@dataclass(frozen=True, slots=True)
class SectionDiff:
    added: tuple[Mapping[str, Json], ...] = ()  # the new items, in JSON form
    removed: tuple[Mapping[str, Json], ...] = ()
    changed: tuple[ItemChange, ...] = ()
    moved: tuple[Move, ...] = ()  # rules only: order matters there (first match wins)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.moved)


SECTIONS = ("targets", "rules", "sticky", "budgets", "model_access")
SINGLES = ("exploration", "default", "fallback", "guardrails", "managed_settings")
_HEADER_FIELDS = ("description",)


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    old_version: str
    new_version: str
    targets: SectionDiff = SectionDiff()
    rules: SectionDiff = SectionDiff()
    sticky: SectionDiff = SectionDiff()
    budgets: SectionDiff = SectionDiff()
    model_access: SectionDiff = SectionDiff()  # per-group model allowlists, by group
    exploration: tuple[FieldChange, ...] = ()  # a block added or removed: every field against None
    default: tuple[FieldChange, ...] = ()
    fallback: tuple[FieldChange, ...] = ()
    guardrails: tuple[FieldChange, ...] = ()
    managed_settings: tuple[FieldChange, ...] = ()
    header: tuple[FieldChange, ...] = field(default=())  # description

    @property
    def is_empty(self) -> bool:
        """No change to routing or budgets (the version and parent fields are not changes)."""
        return not any((self.targets, self.rules, self.sticky, self.budgets, self.model_access, self.exploration,
                        self.default, self.fallback, self.guardrails, self.managed_settings, self.header))

    def to_dict(self) -> dict[str, Json]:
        def changes(items: Sequence[FieldChange]) -> list[dict[str, Json]]:
            return [{"path": c.path, "before": c.before, "after": c.after} for c in items]

        def section(s: SectionDiff) -> dict[str, Json]:
            return {"added": [dict(a) for a in s.added], "removed": [dict(r) for r in s.removed],
                    "changed": [{"name": c.name, "changes": changes(c.changes)} for c in s.changed],
                    "moved": [{"name": m.name, "before": m.before, "after": m.after} for m in s.moved]}

        return {"old_version": self.old_version, "new_version": self.new_version,
                **{name: section(getattr(self, name)) for name in SECTIONS},
                **{name: changes(getattr(self, name)) for name in (*SINGLES, "header")}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Json]) -> PolicyDiff:
        def changes(items: Sequence[Mapping[str, Json]]) -> tuple[FieldChange, ...]:
            return tuple(FieldChange(c["path"], c["before"], c["after"]) for c in items)

        def section(s: Mapping[str, Json]) -> SectionDiff:
            return SectionDiff(tuple(s["added"]), tuple(s["removed"]),
                               tuple(ItemChange(c["name"], changes(c["changes"])) for c in s["changed"]),
                               tuple(Move(m["name"], m["before"], m["after"]) for m in s["moved"]))

        return cls(data["old_version"], data["new_version"], targets=section(data["targets"]),
                   rules=section(data["rules"]), sticky=section(data["sticky"]), budgets=section(data["budgets"]),
                   # absent from diffs stored before it existed
                   model_access=section(data["model_access"]) if "model_access" in data else SectionDiff(),
                   exploration=changes(data.get("exploration", ())),  # absent from diffs stored before it existed
                   default=changes(data["default"]), fallback=changes(data["fallback"]),
                   guardrails=changes(data.get("guardrails", ())),  # absent from diffs stored before it existed
                   managed_settings=changes(data.get("managed_settings", ())),  # likewise
                   header=changes(data["header"]))


def diff(old: Policy, new: Policy) -> PolicyDiff:
    """The changes that turn ``old`` into ``new``."""
    return PolicyDiff(
        old_version=old.version, new_version=new.version,
        targets=_section(old.targets, new.targets, lambda t: t["name"]),
        rules=_section(old.rules, new.rules, lambda r: r["name"], ordered=True),
        sticky=_section(old.sticky, new.sticky, lambda p: p["name"]),
        budgets=_section(old.budgets, new.budgets, _budget_name),
        model_access=_section(old.model_access, new.model_access, lambda a: a["group"]),
        exploration=field_changes(_exploration(old.exploration), _exploration(new.exploration)),
        default=field_changes(_json(old.default), _json(new.default)),
        fallback=field_changes(_json(old.fallback), _json(new.fallback)),
        guardrails=field_changes(_json(old.guardrails), _json(new.guardrails)),
        managed_settings=field_changes(_json(old.managed_settings), _json(new.managed_settings)),
        header=field_changes(old.model_dump(mode="json", include=set(_HEADER_FIELDS)),
                             new.model_dump(mode="json", include=set(_HEADER_FIELDS))),
    )


def _json(model: BaseModel) -> dict[str, Json]:
    return model.model_dump(mode="json")


def _optional(model: BaseModel | None) -> dict[str, Json]:
    return {} if model is None else _json(model)


def _exploration(block: BaseModel | None) -> dict[str, Json]:
    """The block without ``segments`` when it has none (a block added reads as before segments
    existed), and each segment's ``when`` without the predicates it leaves out."""
    data = _optional(block)
    if data.get("segments") == []:
        del data["segments"]
    for segment in data.get("segments", ()):
        segment["when"] = {name: value for name, value in segment["when"].items() if value is not None}
    return data


def _section(old: Sequence[BaseModel], new: Sequence[BaseModel], key: Any, ordered: bool = False) -> SectionDiff:
    old_items = {key(item): item for item in map(_json, old)}
    new_items = {key(item): item for item in map(_json, new)}
    added = tuple(item for name, item in new_items.items() if name not in old_items)
    removed = tuple(item for name, item in old_items.items() if name not in new_items)
    changed = []
    for name, item in new_items.items():
        if name in old_items:
            changes = field_changes(old_items[name], item)
            if changes:
                changed.append(ItemChange(name, changes))
    moved = _moves(list(old_items), list(new_items)) if ordered else ()
    return SectionDiff(added, removed, tuple(changed), moved)


def _moves(old: list[str], new: list[str]) -> tuple[Move, ...]:
    """Rules whose order relative to the other kept rules changed: those outside a longest common
    subsequence of the two orders. Inserting or removing a rule moves nothing."""
    common = set(old) & set(new)
    before = [name for name in old if name in common]
    after = [name for name in new if name in common]
    kept = _longest_common_subsequence(before, after)
    return tuple(Move(name, old.index(name), new.index(name)) for name in after if name not in kept)


def _longest_common_subsequence(first: list[str], second: list[str]) -> set[str]:
    lengths = [[0] * (len(second) + 1) for _ in range(len(first) + 1)]
    for i in range(len(first) - 1, -1, -1):
        for j in range(len(second) - 1, -1, -1):
            lengths[i][j] = (lengths[i + 1][j + 1] + 1 if first[i] == second[j]
                             else max(lengths[i + 1][j], lengths[i][j + 1]))
    kept: set[str] = set()
    i = j = 0
    while i < len(first) and j < len(second):
        if first[i] == second[j]:
            kept.add(first[i])
            i, j = i + 1, j + 1
        elif lengths[i + 1][j] >= lengths[i][j + 1]:
            i += 1
        else:
            j += 1
    return kept


def field_changes(before: Mapping[str, Json], after: Mapping[str, Json], prefix: str = "") -> tuple[FieldChange, ...]:
    """Leaf-level differences. Nested objects are walked; lists of objects of equal length are
    compared item by item (``split[1].weight``); any other list is one value (a chain's order is
    its meaning)."""
    changes: list[FieldChange] = []
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        path = f"{prefix}{name}"
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changes += field_changes(old, new, f"{path}.")
        elif (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
              and all(isinstance(item, dict) for item in [*old, *new])):
            for index, (old_item, new_item) in enumerate(zip(old, new, strict=True)):
                changes += field_changes(old_item, new_item, f"{path}[{index}].")
        else:
            changes.append(FieldChange(path, old, new))
    return tuple(changes)


# --- text ---------------------------------------------------------------------------------
_NOUNS = {"targets": "target", "rules": "rule", "sticky": "sticky pool", "budgets": "budget",
          "model_access": "model allowlist of group"}


def _value(value: object) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def _render_changes(changes: Iterable[FieldChange]) -> str:
    return "; ".join(f"{c.path} {_value(c.before)} → {_value(c.after)}" for c in changes)


def _name(kind: str, item: Mapping[str, object]) -> str:
    if kind == "model_access":
        return str(item["group"])
    return _budget_name(item) if kind == "budgets" else str(item["name"])


def _render_section(kind: str, section: SectionDiff) -> Iterable[str]:
    noun = _NOUNS[kind]
    for item in section.added:
        yield f"+ {noun} {_name(kind, item)}"
    for item in section.removed:
        yield f"- {noun} {_name(kind, item)}"
    for change in section.changed:
        yield f"~ {noun} {change.name}: {_render_changes(change.changes)}"
    for move in section.moved:
        yield f"↕ {noun} {move.name}: position {move.before} → {move.after}"


def _render_exploration(changes: Sequence[FieldChange]) -> Iterable[str]:
    if not changes:
        return
    # a block has targets (required): targets from or to nothing is the block added or removed
    if any(c.path == "targets" and c.before is None for c in changes):
        yield "+ exploration: " + "; ".join(f"{c.path} {_value(c.after)}" for c in changes)
    elif any(c.path == "targets" and c.after is None for c in changes):
        yield "- exploration"
    else:
        yield f"~ exploration: {_render_changes(changes)}"


def render_lines(d: PolicyDiff, *, rules: bool = True) -> list[str]:
    """The change lines, without the header; ``rules=False`` leaves out the rules and the default
    (core.policy.rule_diff shows those in full)."""
    lines = []
    if d.header:
        lines.append(f"~ {_render_changes(d.header)}")
    lines += _render_section("targets", d.targets)
    lines += _render_exploration(d.exploration)  # before the rules: it is tried before them
    if rules:
        lines += _render_section("rules", d.rules)
    singles = ("default", "fallback", "guardrails", "managed_settings")
    for single in singles if rules else singles[1:]:
        changes: tuple[FieldChange, ...] = getattr(d, single)
        if changes:
            lines.append(f"~ {single}: {_render_changes(changes)}")
    for kind in ("sticky", "budgets", "model_access"):
        lines += _render_section(kind, getattr(d, kind))
    return lines


def render_diff(d: PolicyDiff) -> str:
    lines = [f"policy {d.old_version} → {d.new_version}", *render_lines(d)]
    if d.is_empty:
        lines.append("  (no changes)")
    return "\n".join(lines)


def _budget_name(item: Mapping[str, Json]) -> str:
    """A budget's name in a diff: ``team:payments``, with its period when not monthly (``team:payments:day``)."""
    period = item.get("period")
    return f"{item['scope']}:{item['name']}" + (f":{period}" if period not in (None, "month") else "")
