"""The policy's ``guardrails:`` block as the proxy runs it: which action applies to a request (the
default, or a developer's, team's or repo's override) and which findings the allow-list lets
through. Pure; prepared once per policy version (compile.py) so a request pays a few dict lookups.

Which override wins, most specific first: the developer's (their virtual key says who they are),
then the repo's, then the team's, then the default. A repo is the developer's word unless their key
lists the repos it may tag (core.keys.claim_repo), so an unverified repo override may only make the
action stricter: naming a repo set to ``off`` never turns off a team's ``block``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from .problems import Problem
from .schema import SECRET_ACTIONS, GuardrailAllow, Guardrails, SecretAction

_STRENGTH: Mapping[str, int] = MappingProxyType({action: rank for rank, action in enumerate(SECRET_ACTIONS)})


@dataclass(frozen=True, slots=True)
class GuardrailTable:
    default: SecretAction
    developers: Mapping[str, SecretAction]
    teams: Mapping[str, SecretAction]
    repos: Mapping[str, SecretAction]
    fingerprints: frozenset[str]
    path_patterns: tuple[str, ...]
    path_regex: re.Pattern[str] | None  # every pattern in one alternation; None without any

    def action(self, developer: str | None, team: str | None, repo: str | None,
               repo_verified: bool | None) -> SecretAction:
        action = self.default
        if team is not None:
            action = self.teams.get(team, action)
        if repo is not None:
            by_repo = self.repos.get(repo)
            if by_repo is not None and (repo_verified or _STRENGTH[by_repo] >= _STRENGTH[action]):
                action = by_repo
        if developer is not None:
            action = self.developers.get(developer, action)
        return action

    def allows_fingerprint(self, fingerprint: str) -> bool:
        return fingerprint in self.fingerprints

    def allows_path(self, path: str | None) -> bool:
        return path is not None and self.path_regex is not None and self.path_regex.match(path) is not None


def prepare_guardrails(guardrails: Guardrails) -> GuardrailTable:
    by_scope: dict[str, dict[str, SecretAction]] = {"developer": {}, "team": {}, "repo": {}}
    for override in guardrails.overrides:
        by_scope[override.scope][override.name] = override.secrets
    patterns = guardrails.allow.paths
    # fnmatch semantics: `*` matches any characters, `/` included; `[…]` a set; case-sensitive
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)) if patterns else None
    return GuardrailTable(
        default=guardrails.secrets,
        developers=MappingProxyType(by_scope["developer"]), teams=MappingProxyType(by_scope["team"]),
        repos=MappingProxyType(by_scope["repo"]),
        fingerprints=frozenset(guardrails.allow.fingerprints), path_patterns=patterns, path_regex=regex)


def guardrail_problems(guardrails: Guardrails) -> Iterable[Problem]:
    """What validate() reports about the block (the schema already checked each value's shape)."""
    seen: dict[tuple[str, str], int] = {}
    for index, override in enumerate(guardrails.overrides):
        path = f"guardrails.overrides[{index}]"
        key = (override.scope, override.name)
        if key in seen:
            yield Problem(path, f"{override.scope} {override.name!r} already has an override at "
                          f"guardrails.overrides[{seen[key]}]")
        seen.setdefault(key, index)
        if override.name == "*":
            yield Problem(f"{path}.name", "'*' is not a principal: set guardrails.secrets for everyone")
        elif override.secrets == guardrails.secrets and override.scope == "team":
            yield Problem(f"{path}.secrets", f"the same as the default ({guardrails.secrets}): no effect", "warning")
    yield from _repeated("guardrails.allow.fingerprints", guardrails.allow.fingerprints)
    yield from _repeated("guardrails.allow.paths", guardrails.allow.paths)
    for index, pattern in enumerate(guardrails.allow.paths):
        if fnmatch.fnmatchcase("", pattern) or pattern.strip("*") == "":
            yield Problem(f"guardrails.allow.paths[{index}]", f"{pattern!r} matches every path: every finding in "
                          "a file's tool result would be let through", "warning")


def _repeated(path: str, values: Sequence[str]) -> Iterable[Problem]:
    first: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first:
            yield Problem(f"{path}[{index}]", f"{value!r} is listed twice (first at [{first[value]}])", "warning")
        first.setdefault(value, index)


@dataclass(frozen=True, slots=True)
class AllowlistChange:
    """What an activation adds to and removes from the allow-list (for the audit log)."""

    added_fingerprints: tuple[str, ...]
    removed_fingerprints: tuple[str, ...]
    added_paths: tuple[str, ...]
    removed_paths: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added_fingerprints or self.removed_fingerprints or self.added_paths or self.removed_paths)

    def to_dict(self) -> dict[str, list[str]]:
        return {"added_fingerprints": list(self.added_fingerprints),
                "removed_fingerprints": list(self.removed_fingerprints),
                "added_paths": list(self.added_paths), "removed_paths": list(self.removed_paths)}


def allowlist_change(old: GuardrailAllow | None, new: GuardrailAllow) -> AllowlistChange:
    """``old`` None: nothing was allowed before (no policy was active)."""
    before = old or GuardrailAllow()

    def added(a: Sequence[str], b: Sequence[str]) -> tuple[str, ...]:
        return tuple(sorted(set(b) - set(a)))

    return AllowlistChange(added(before.fingerprints, new.fingerprints), added(new.fingerprints, before.fingerprints),
                           added(before.paths, new.paths), added(new.paths, before.paths))
