"""Per-group model allowlists (the policy's ``model_access``): may this caller ask for this model?

A caller's entries are those of its groups (a caller in several may use what any of them allows),
or the ``"*"`` entry when none of its groups has one (a virtual key without groups included). No
entry at all: any model. A model is allowed when its tier (from the price table) or its exact id is
listed. Pure; compiled once per policy version into :class:`AccessTable`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from .schema import ModelAccess, Target

EVERYONE = "*"


@dataclass(frozen=True, slots=True)
class PreparedAccess:
    entry: ModelAccess
    allowed: frozenset[str]
    downgrade_to: Target | None


@dataclass(frozen=True, slots=True)
class AccessTable:
    by_group: Mapping[str, PreparedAccess]
    everyone: PreparedAccess | None

    def __bool__(self) -> bool:
        return bool(self.by_group) or self.everyone is not None


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a model is refused, and what the policy does about it (``downgrade_to`` None: reject)."""

    model: str
    groups: tuple[str, ...]  # the entries that were consulted (``*`` for the everyone entry)
    allowed: tuple[str, ...]  # what they allow, together
    downgrade_to: Target | None

    @property
    def message(self) -> str:
        listed = ", ".join(self.allowed[:20]) + (" …" if len(self.allowed) > 20 else "")
        whose = ("callers outside the listed groups" if self.groups == (EVERYONE,)
                 else "group " + ", ".join(self.groups) if len(self.groups) == 1
                 else "groups " + ", ".join(self.groups))
        shown = self.model if len(self.model) <= 80 else self.model[:80] + "…"
        return (f"model {shown!r} is not in the model allowlist of {whose} (model_access: {listed}); "
                "ask for one of those, or ask an admin to allow it")


NO_ACCESS_RULES = AccessTable(MappingProxyType({}), None)


def prepare_access(entries: Sequence[ModelAccess], targets: Mapping[str, Target]) -> AccessTable:
    if not entries:
        return NO_ACCESS_RULES
    prepared = {entry.group: PreparedAccess(entry, frozenset(entry.models),
                                            targets.get(entry.downgrade_to) if entry.downgrade_to else None)
                for entry in entries}
    everyone = prepared.pop(EVERYONE, None)
    return AccessTable(MappingProxyType(prepared), everyone)


def check_model(table: AccessTable, groups: Sequence[str], model: str | None, tier: str | None) -> Denial | None:
    """None when the caller may ask for ``model`` (of ``tier``); else the :class:`Denial`. A request
    without a model is left to the upstream to refuse."""
    if not table or model is None:
        return None
    entries = [table.by_group[group] for group in groups if group in table.by_group]
    if not entries:
        if table.everyone is None:
            return None
        entries = [table.everyone]
    for entry in entries:
        if model in entry.allowed or (tier is not None and tier in entry.allowed):
            return None
    allowed = tuple(dict.fromkeys(name for entry in entries for name in entry.entry.models))
    first = entries[0]  # in the caller's group order: the IdP's, deterministic
    downgrade = first.downgrade_to if first.entry.on_denied == "downgrade" else None
    return Denial(model, tuple(entry.entry.group for entry in entries), allowed, downgrade)
