"""``GET /managed/settings``: the caller's group's Claude Code settings, from the active policy.

The protocol (Claude Code's gateway protocol, and what the CLI does with the answer):
- ``200 {"uuid", "checksum", "settings"}`` with ``ETag: "<checksum>"``; the checksum is the one the
  CLI computes itself from the settings (core/policy/managed_settings.py), and the CLI sends it back
  as ``If-None-Match: "<checksum>"`` on its next fetch;
- ``304`` (no body) only when ``If-None-Match`` names the current ETag: a 304 to a request without
  it is an error to the CLI; ``If-None-Match: *`` gets the document (Anthropic's gateway does the
  same: a bare ``*`` is how the CLI probes whether a gateway is Anthropic's own);
- ``404`` when nothing is configured for the caller ("no policy": the CLI then applies none).

Groups: a bearer's groups from the IdP; a virtual key's team is its one group (a virtual-key Claude
Code does not fetch managed settings, but a script may); a key of a fronting gateway has none.
Answers are memoised per active policy (its documents are immutable) and entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from prometheus_client import CollectorRegistry, Counter

from core.keys import KeyRecord
from core.policy.managed_settings import payload, settings_for
from core.policy.schema import Policy

from .bearer import BearerRecord


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    headers: list[tuple[bytes, bytes]]


def groups_of(record: KeyRecord | None) -> tuple[str, ...]:
    if isinstance(record, BearerRecord):
        return record.groups
    if record is not None and record.team and not record.fronting_gateway:
        return (record.team,)
    return ()


def _matches(if_none_match: str, etag: str) -> bool:
    return any(candidate.strip().removeprefix("W/") == etag for candidate in if_none_match.split(","))


class ManagedSettingsEndpoint:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._policy: Policy | None = None
        self._memo: dict[str, tuple[bytes, str] | None] = {}
        self.answers = Counter("switchyard_managed_settings", "GET /managed/settings answered, by status",
                               ["status"], registry=registry)

    def _document(self, policy: Policy, groups: tuple[str, ...]) -> tuple[bytes, str] | None:
        if policy is not self._policy:  # a new policy: the old answers no longer hold
            self._policy, self._memo = policy, {}
        managed = policy.managed_settings
        chosen = settings_for(managed, groups)
        key = "none" if chosen is None else chosen[0]
        if key not in self._memo:
            if chosen is None:
                self._memo[key] = None
            else:
                body = payload(chosen[1])
                self._memo[key] = (orjson.dumps(body), f'"{body["checksum"]}"')
        return self._memo[key]

    def answer(self, policy: Policy, record: KeyRecord | None, if_none_match: str | None) -> Answer:
        answer = self._answer(policy, record, if_none_match)
        self.answers.labels(str(answer.status)).inc()
        return answer

    def _answer(self, policy: Policy, record: KeyRecord | None, if_none_match: str | None) -> Answer:
        found = self._document(policy, groups_of(record))
        no_store = [(b"cache-control", b"no-store")]
        if found is None:
            body = orjson.dumps({"type": "error", "error": {
                "type": "not_found_error", "message": "no managed settings are configured for this account"}})
            return Answer(404, body, [(b"content-type", b"application/json"), *no_store])
        body, etag = found
        headers = [(b"etag", etag.encode())]
        if if_none_match is not None and _matches(if_none_match, etag):
            return Answer(304, b"", headers)
        return Answer(200, body, [(b"content-type", b"application/json"), *headers])
