"""The proxy's control-plane state: virtual keys (the keys file and the snapshot's), the routing
table (the policy file, the snapshot's active version, or the built-in one) and the spend baseline.
Reloads run in the background; each swaps a whole object by reference assignment, so the hot path
never waits and an in-flight request keeps what it started with."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path

from core.keys import KeyRing
from core.policy.guardrails import allowlist_change

from .keyfile import KeyFileError, load_keyring, modification_stamp
from .ledger import SpendLedger
from .routing import Routing, allowed_by, load_routing_file, routing_for
from .settings import ProxySettings
from .snapshot import Snapshot, SnapshotClient

log = logging.getLogger("switchyard.proxy.control")
# The proxy has no database: a policy file it applies or refuses is recorded as a line on the
# logger the audit chain's head checkpoints go to, with the file's SHA-256, so a log pipeline the
# proxy's host cannot edit holds which policy bytes were in force when.
audit_log = logging.getLogger("switchyard.audit")


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable ({type(exc).__name__})"


class ControlPlane:
    def __init__(self, settings: ProxySettings, provider_keys: Mapping[str, str], ledger: SpendLedger,
                 routing: Routing) -> None:
        self.settings = settings
        self.allowlist = settings.allowlist()
        # the start-up table is checked here like every reload: outside the allowlist, no start
        self.routing = allowed_by(routing, self.allowlist)
        self.keyring = KeyRing()
        self.snapshot: SnapshotClient | None = None
        self._provider_keys = provider_keys
        self._ledger = ledger
        self._file_keys = KeyRing()
        self._snapshot_keys = KeyRing()
        self._keys_stamp: tuple[int, int] | None = None
        self._policy_stamp = modification_stamp(settings.policy_file) if settings.policy_file else None

    async def start(self) -> list[asyncio.Task[None]]:
        """Load what is there now; return the background tasks that keep it current."""
        if self.settings.policy_file is not None:
            path = self.settings.policy_file
            audit_log.info("policy file in force at start: path=%s sha256=%s version=%s",
                           path, _file_digest(path), self.routing.version)
        self.reload_keys()
        tasks = [asyncio.create_task(self._watch_files(), name="switchyard-reload")]
        if self.settings.snapshot_url:
            token = self.settings.snapshot_token
            self.snapshot = SnapshotClient(self.settings.snapshot_url, token.get_secret_value() if token else None)
            await self.refresh_snapshot()  # start with the control plane's state when it is up
            tasks.append(asyncio.create_task(self._poll_snapshot(), name="switchyard-snapshot"))
        return tasks

    async def close(self) -> None:
        if self.snapshot is not None:
            await self.snapshot.close()

    def install(self, routing: Routing) -> None:
        """Swap the routing table: one reference assignment, atomic for the event loop."""
        before, self.routing = self.routing, routing
        log.info("policy %s active (was %s)", routing.version, before.version)
        change = allowlist_change(before.compiled.policy.guardrails.allow, routing.compiled.policy.guardrails.allow)
        if change:  # what the secret guardrail now lets through: on the audit logger, like the file's digest
            audit_log.info("guardrail allow-list changed: version=%s previous=%s %s", routing.version,
                           before.version, " ".join(f"{k}={','.join(v)}" for k, v in change.to_dict().items() if v))

    def reload_keys(self) -> bool:
        """Load the keys file if it changed; keep the old ring when the new file is unusable."""
        stamp = modification_stamp(self.settings.keys_file)
        if stamp == self._keys_stamp:
            return False
        try:
            self._file_keys = load_keyring(self.settings.keys_file)
        except KeyFileError as exc:
            log.error("keeping the previous virtual keys: %s", exc)
            return False
        self._keys_stamp = stamp
        self.keyring = KeyRing([*self._snapshot_keys.records(), *self._file_keys.records()])
        log.info("virtual keys loaded: %d", len(self.keyring))
        return True

    def reload_policy(self) -> bool:
        """Load the policy file if it changed; a policy with problems is refused, loudly, and the
        running one stays."""
        path = self.settings.policy_file
        if path is None:
            return False
        stamp = modification_stamp(path)
        if stamp == self._policy_stamp:
            return False
        self._policy_stamp = stamp
        # Digest, then parse: should the file change between the two reads, its new stamp makes the
        # next poll reload (and record) it again, so the last line always names the bytes in force.
        digest = _file_digest(path)
        try:
            routing = load_routing_file(path, self._provider_keys, passthrough=self.settings.passthrough,
                                        allowlist=self.allowlist)
        except (OSError, ValueError) as exc:
            log.error("keeping policy %s; %s was refused: %s", self.routing.version, path, exc)
            reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())  # one line
            audit_log.warning("policy file refused: path=%s sha256=%s kept=%s reason=%s", path, digest,
                              self.routing.version, reason[:500] or type(exc).__name__)
            return False
        audit_log.info("policy file applied: path=%s sha256=%s version=%s previous=%s", path, digest,
                       routing.version, self.routing.version)
        self.install(routing)
        return True

    async def refresh_snapshot(self) -> bool:
        assert self.snapshot is not None
        snapshot = await self.snapshot.fetch()
        if snapshot is None:
            return False
        self.apply_snapshot(snapshot)
        return True

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Take the control plane's keys, balances and (when it changed) policy."""
        self._snapshot_keys = KeyRing(snapshot.keys)
        self.keyring = KeyRing([*self._snapshot_keys.records(), *self._file_keys.records()])
        self._ledger.replace_baseline(snapshot.month, snapshot.balances, snapshot.generated_at)
        if snapshot.policy is not None and snapshot.policy.version != self.routing.version:
            try:
                self.install(routing_for(snapshot.policy, self._provider_keys, passthrough=self.settings.passthrough,
                                         allowlist=self.allowlist))
            except ValueError as exc:
                log.error("keeping policy %s; snapshot policy %s was refused: %s",
                          self.routing.version, snapshot.policy.version, exc)

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            self.reload_keys()
            self.reload_policy()

    async def _poll_snapshot(self) -> None:
        while True:
            await asyncio.sleep(self.settings.snapshot_interval_s)
            await self.refresh_snapshot()
