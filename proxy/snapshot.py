"""The proxy's view of the control plane: ingest's ``GET /v1/snapshot`` (active policy, virtual-key
hashes, budget balances), polled in the background with an ETag so an unchanged snapshot costs a
304. Nothing on the hot path waits for it; a failed poll keeps the last good state.

Wire format (JSON)::

    {"generated_at": <unix seconds the balances are complete up to>,
     "policy": <policy document> | null,
     "keys": [<KeyRecord as dict>, …],
     "spend": {"month": "2026-11", "balances": [{"scope": "developer", "name": "alice", "usd": "12.5"}]}}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import httpx
from pydantic import ValidationError

from core.keys import KeyRecord
from core.policy.schema import Policy

log = logging.getLogger("switchyard.proxy.snapshot")


class SnapshotError(ValueError):
    """A snapshot that cannot be used; the last good one stays in force."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    generated_at: float
    policy: Policy | None
    keys: tuple[KeyRecord, ...]
    month: str
    balances: dict[tuple[str, str], Decimal]


def parse_snapshot(document: object) -> Snapshot:
    if not isinstance(document, dict):
        raise SnapshotError("snapshot is not a JSON object")
    try:
        policy = None if document.get("policy") is None else Policy.model_validate(document["policy"])
        keys = tuple(KeyRecord.from_dict(k) for k in document.get("keys", []))
        spend = document.get("spend") or {}
        balances = {(str(b["scope"]), str(b["name"])): Decimal(str(b["usd"])) for b in spend.get("balances", [])}
        return Snapshot(float(document.get("generated_at", 0)), policy, keys, str(spend.get("month", "")), balances)
    except (ValidationError, KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise SnapshotError(f"unusable snapshot: {exc}") from exc


class SnapshotClient:
    def __init__(self, url: str, token: str | None, *, timeout_s: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._etag: str | None = None
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)
        self.failures = 0

    async def fetch(self) -> Snapshot | None:
        """The new snapshot, or None when unchanged (304) or unreachable (logged, counted)."""
        headers = dict(self._headers)
        if self._etag:
            headers["if-none-match"] = self._etag
        try:
            response = await self._client.get(self.url, headers=headers)
        except httpx.HTTPError as exc:
            self.failures += 1
            log.warning("snapshot %s unreachable (%s); keeping the last one", self.url, type(exc).__name__)
            return None
        if response.status_code == 304:
            return None
        if response.status_code != 200:
            self.failures += 1
            log.warning("snapshot %s answered %d; keeping the last one", self.url, response.status_code)
            return None
        try:
            snapshot = parse_snapshot(response.json())
        except (ValueError, SnapshotError) as exc:
            self.failures += 1
            log.error("snapshot refused: %s", exc)
            return None
        self._etag = response.headers.get("etag")
        return snapshot

    async def close(self) -> None:
        await self._client.aclose()
