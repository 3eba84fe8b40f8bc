"""Scanning a whole Messages request, paying only for the blocks this session has not sent before.
Pure: the caller passes the parsed body, the session key and the :class:`SeenBlocks` it owns.

This is the interface the proxy calls (after authentication and JSON parsing, before forwarding):

    report = scan_request(scanner, seen, session_key, body, max_block_chars=settings.max_block_chars)
    if report.findings: flag (span event + counter per new finding) or block (400 naming
    report.findings[0]), as the policy says; report.unscanned: count, fail open or closed.

``session_key`` should be the Claude Code session id qualified by whoever sent it (the virtual key's
id), so one developer's sessions never share memory with another's; None scans everything and
remembers nothing (a client without a session id).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from core.secrets.blocks import Located, scannable
from core.secrets.scan import Finding, SecretScanner
from core.secrets.seen import BlockKey, SeenBlocks, block_key

# A block above this many characters is not scanned and is reported in ``unscanned``: RE2 keeps
# the time linear, this keeps it bounded (about 10 ms per MiB here; bench/README.md).
DEFAULT_MAX_BLOCK_CHARS = 2 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Where:
    message_index: int  # core.secrets.blocks.SYSTEM (-1) for the top-level system prompt
    block_index: int
    part_index: int | None
    kind: str


@dataclass(frozen=True, slots=True)
class LocatedFinding:
    rule: str
    where: Where
    offset: int  # within the block's text (or its part's)
    line: int
    fingerprint: str
    # the same text was scanned before in this session (an earlier request, or earlier in this one:
    # two identical tool results are one finding to count, two places to name)
    repeat: bool


@dataclass(frozen=True, slots=True)
class Unscanned:
    where: Where
    reason: str  # "too_large" | "binary"
    chars: int


@dataclass(frozen=True, slots=True)
class ScanReport:
    findings: tuple[LocatedFinding, ...]
    unscanned: tuple[Unscanned, ...]
    blocks: int  # texts considered
    blocks_scanned: int  # of which scanned now (new to this session)
    chars_scanned: int

    @property
    def new_findings(self) -> tuple[LocatedFinding, ...]:
        return tuple(finding for finding in self.findings if not finding.repeat)


def _where(item: Located) -> Where:
    return Where(item.message_index, item.block_index, item.part_index, item.kind)


def scan_request(scanner: SecretScanner, seen: SeenBlocks[tuple[Finding, ...]], session_key: Hashable | None,
                 body: Mapping[str, object], *, max_block_chars: int = DEFAULT_MAX_BLOCK_CHARS) -> ScanReport:
    memory: OrderedDict[BlockKey, tuple[Finding, ...]] = (
        OrderedDict() if session_key is None else seen.session(session_key))
    findings: list[LocatedFinding] = []
    unscanned: list[Unscanned] = []
    blocks = blocks_scanned = chars_scanned = 0
    for item in scannable(body):
        if not isinstance(item, Located):
            unscanned.append(Unscanned(Where(item.message_index, item.block_index, item.part_index, item.kind),
                                       "binary", 0))
            continue
        blocks += 1
        text = item.text
        if len(text) > max_block_chars:
            # neither scanned nor remembered: it is reported on every request that carries it
            unscanned.append(Unscanned(_where(item), "too_large", len(text)))
            continue
        key = block_key(text)
        known, outcome = seen.lookup(memory, key)
        if known and outcome is not None:
            found = outcome
        else:
            found = scanner.scan(text)
            blocks_scanned += 1
            chars_scanned += len(text)
            seen.remember(memory, key, found)
        where = _where(item)
        findings.extend(LocatedFinding(finding.rule, where, finding.offset, finding.line, finding.fingerprint, known)
                        for finding in found)
    return ScanReport(tuple(findings), tuple(unscanned), blocks, blocks_scanned, chars_scanned)
