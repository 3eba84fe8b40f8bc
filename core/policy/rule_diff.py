"""What a reviewer reads before approving a policy change: every rule it touches in full, before
and after (conditions with their thresholds, route or split, model, position), the rules it adds
and removes with their conditions, the rules it moves, the default, and the rest of the change in
core.policy.diff's lines. Rendered as text (``render_rule_diff``; the dashboard and `switchyard
policy diff` print the same) and as YAML of the rules before and after (``rule_yaml``):

    policy v1 → v2
    rules (first match wins): 1 in v1, 2 in v2
    ~ rule small-turns (changed, position 1 → 2 of 2)
        before: when estimated input tokens < 20,000 → route haiku, then primary
        after:  when estimated input tokens < 12,000 → route haiku, then primary
        changed: estimated input tokens below 20,000 → 12,000
    + rule thinking-opus (added, position 1 of 2)
        when thinking on → route opus
    = default (no rule matches): route primary, then secondary (unchanged)

Only fields that differ are reported as changes (a range whose ``gte`` stayed is not a changed
``gte``); the full before and after show them all. A rule is *moved* when its order relative to the
other kept rules changed (core.policy.diff); a position that shifted because a rule was added or
removed before it is shown, not reported. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .diff import FieldChange, diff, render_lines
from .load import dump_yaml
from .schema import Default, Policy, Rule
from .words import action_words, chain, field_words, number, split_words, value_words, when_words

Kind = Literal["added", "removed", "changed", "moved", "unchanged"]
_MARK = {"added": "+", "removed": "-", "changed": "~", "moved": "↕", "unchanged": "="}
DEFAULT_LABEL = "default (no rule matches)"


@dataclass(frozen=True, slots=True)
class Placed:
    rule: Rule
    position: int  # 1-based, among the policy's own rules (an exploration block is tried before them)
    of: int  # rules in that policy


@dataclass(frozen=True, slots=True)
class RuleChange:
    name: str
    before: Placed | None  # None: added
    after: Placed | None  # None: removed
    changes: tuple[FieldChange, ...] = ()  # the fields that differ, leaf by leaf
    moved: bool = False  # its order relative to the other kept rules changed

    @property
    def kind(self) -> Kind:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        if self.changes:
            return "changed"
        return "moved" if self.moved else "unchanged"


@dataclass(frozen=True, slots=True)
class RuleDiff:
    old_version: str
    new_version: str
    rules: tuple[RuleChange, ...]  # the new policy's rules in order, then the ones it removed
    default_before: Default
    default_after: Default
    default_changes: tuple[FieldChange, ...]
    other_lines: tuple[str, ...]  # targets, exploration, fallback, sticky pools, budgets (core.policy.diff)
    old_rules: int = 0
    new_rules: int = 0

    @property
    def reported(self) -> tuple[RuleChange, ...]:
        """The rules the change touches: added, removed, changed or moved."""
        return tuple(r for r in self.rules if r.kind != "unchanged")

    @property
    def is_empty(self) -> bool:
        return not (self.reported or self.default_changes or self.other_lines)

    def count(self, kind: Kind) -> int:
        return sum(1 for r in self.rules if r.kind == kind)


def rule_diff(old: Policy, new: Policy) -> RuleDiff:
    """The rule-level review of turning ``old`` into ``new`` (changes and moves from core.policy.diff)."""
    d = diff(old, new)
    changed = {c.name: c.changes for c in d.rules.changed}
    moved = {m.name for m in d.rules.moved}
    old_at = {r.name: Placed(r, i + 1, len(old.rules)) for i, r in enumerate(old.rules)}
    new_at = {r.name: Placed(r, i + 1, len(new.rules)) for i, r in enumerate(new.rules)}
    entries = [RuleChange(name, old_at.get(name), placed, changed.get(name, ()), name in moved)
               for name, placed in new_at.items()]
    entries += [RuleChange(name, placed, None) for name, placed in old_at.items() if name not in new_at]
    return RuleDiff(old.version, new.version, tuple(entries), old.default, new.default, d.default,
                    tuple(render_lines(d, rules=False)), len(old.rules), len(new.rules))


# --- words -----------------------------------------------------------------------------------
def _json(model: Rule | Default) -> dict[str, Any]:
    return model.model_dump(mode="json")


def rule_words(rule: Rule) -> str:
    """``when estimated input tokens < 20,000 → route haiku, then primary``."""
    data = _json(rule)
    return f"when {when_words(data.get('when'))} → {action_words(data)}"


def default_words(default: Default) -> str:
    return action_words(_json(default))


def _bound(value: object) -> str:
    return "no limit" if value is None else number(value)


def _route(value: object) -> str:
    return chain([str(v) for v in value]) if isinstance(value, list | tuple) and value else "none"


def change_words(change: FieldChange) -> str:
    """One changed field of a rule or the default, in words: ``estimated input tokens below 20,000 →
    12,000``, ``route haiku, then primary → primary``, ``split arm 2 weight 1 → 2``."""
    path, before, after = change.path, change.before, change.after
    parts = path.split(".")
    if parts[0] == "when" and len(parts) == 3 and parts[2] in ("lt", "gte"):
        bound = "below" if parts[2] == "lt" else "from"
        return f"{field_words(parts[1])} {bound} {_bound(before)} → {_bound(after)}"
    if parts[0] == "when" and len(parts) == 2:
        return f"{field_words(parts[1])}: {value_words(parts[1], before)} → {value_words(parts[1], after)}"
    if path == "route" or path.endswith("].route"):
        label = "route" if path == "route" else f"split arm {_arm(path)} route"
        return f"{label}: {_route(before)} → {_route(after)}"
    if path == "model" or path.endswith("].model"):
        label = "model" if path == "model" else f"split arm {_arm(path)} model"
        return f"{label}: {before or 'the target’s'} → {after or 'the target’s'}"
    if path.startswith("split[") and path.endswith("].weight"):
        return f"split arm {_arm(path)} weight {number(before)} → {number(after)}"
    if path == "split":
        return f"split: {_split(before)} → {_split(after)}"
    return f"{path}: {before if before is not None else 'unset'} → {after if after is not None else 'unset'}"


def _arm(path: str) -> int:
    return int(path[path.index("[") + 1:path.index("]")]) + 1


def _split(value: object) -> str:
    return split_words(value) if isinstance(value, list) and value else "none"


def _position(entry: RuleChange) -> str:
    before, after = entry.before, entry.after
    if before is None and after is not None:
        return f"position {after.position} of {after.of}"
    if after is None and before is not None:
        return f"was position {before.position} of {before.of}"
    assert before is not None and after is not None
    if before.position == after.position:
        return f"position {after.position} of {after.of}"
    return f"position {before.position} → {after.position} of {after.of}"


def _entry_lines(entry: RuleChange) -> list[str]:
    kind = entry.kind
    lines = [f"{_MARK[kind]} rule {entry.name} ({kind}, {_position(entry)})"]
    if kind == "changed":
        assert entry.before is not None and entry.after is not None
        lines += [f"    before: {rule_words(entry.before.rule)}", f"    after:  {rule_words(entry.after.rule)}",
                  "    changed: " + "; ".join(change_words(c) for c in entry.changes)]
    else:
        placed = entry.after or entry.before
        assert placed is not None
        lines.append(f"    {rule_words(placed.rule)}")
    return lines


def render_rule_diff(rd: RuleDiff) -> str:
    """The review as text: the rules the change touches, the default, the rest of the change."""
    lines = [f"policy {rd.old_version} → {rd.new_version}",
             f"rules (first match wins): {rd.old_rules} in {rd.old_version}, {rd.new_rules} in {rd.new_version}"]
    for entry in rd.reported:
        lines += _entry_lines(entry)
    kept = [r for r in rd.rules if r.kind == "unchanged"]
    if kept:
        lines.append("= unchanged: " + ", ".join(f"{r.name} ({_position(r)})" for r in kept))
    if rd.default_changes:
        lines += [f"~ {DEFAULT_LABEL}", f"    before: {default_words(rd.default_before)}",
                  f"    after:  {default_words(rd.default_after)}",
                  "    changed: " + "; ".join(change_words(c) for c in rd.default_changes)]
    else:
        lines.append(f"= {DEFAULT_LABEL}: {default_words(rd.default_after)} (unchanged)")
    if rd.other_lines:
        lines += ["other changes:", *rd.other_lines]
    if rd.is_empty:
        lines.append("  (no changes)")
    return "\n".join(lines)


# --- YAML ------------------------------------------------------------------------------------
def _rule_yaml(placed: Placed, kind: Kind) -> str:
    data = placed.rule.model_dump(mode="python", exclude_defaults=True)
    data = {"name": placed.rule.name, **data}  # required, yet keep it first
    return f"# {kind}, position {placed.position} of {placed.of}\n" + dump_yaml([data])


def _side(version: str, placed: list[tuple[Placed, Kind]], default: Default | None) -> str:
    text = f"# {version}: the rules this change touches, as written\n"
    text += "rules:\n" + "".join(_rule_yaml(p, kind) for p, kind in placed) if placed else "rules: []\n"
    if default is not None:
        text += dump_yaml({"default": default.model_dump(mode="python", exclude_defaults=True)})
    return text


def rule_yaml(rd: RuleDiff) -> tuple[str, str]:
    """(before, after): the touched rules (and the default, when it changed) as YAML a policy file
    could hold, in each side's order, each rule headed by a comment with what happened to it and its
    position."""
    before = sorted(((placed, r.kind) for r in rd.reported if (placed := r.before) is not None),
                    key=lambda item: item[0].position)
    after = sorted(((placed, r.kind) for r in rd.reported if (placed := r.after) is not None),
                   key=lambda item: item[0].position)
    changed_default = bool(rd.default_changes)
    return (_side(rd.old_version, before, rd.default_before if changed_default else None),
            _side(rd.new_version, after, rd.default_after if changed_default else None))
