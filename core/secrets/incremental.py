"""Scanning a whole Messages request, paying only for the blocks this session has not sent before.
Pure: the caller passes the parsed body, the session key and the :class:`SeenBlocks` it owns.

The proxy (proxy/guardrails.py) calls it in three steps, ``plan_request`` → ``scan_texts`` →
``finish_request``, so that the scanning of a request with a lot of new text can run on a worker
thread while the memory stays on the event loop's; ``scan_request`` does the three at once.

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


@dataclass(slots=True)
class RequestPlan:
    """A request split into what the session has seen (answered from its memory) and the texts to
    scan. The proxy scans ``to_scan`` inline, or on a worker thread when there is a lot of it (the
    memory itself is touched only by :func:`plan_request` and :func:`finish_request`, on one thread)."""

    memory: OrderedDict[BlockKey, tuple[Finding, ...]]
    # the blocks that matter for the report: those seen before with findings, and those to scan
    # (their index in to_scan; ``-1 - index`` for a second copy of a text already in to_scan)
    items: list[tuple[Located, tuple[Finding, ...] | int]]
    to_scan: list[str]
    unscanned: list[Unscanned]
    blocks: int
    chars_to_scan: int = 0


def plan_request(seen: SeenBlocks[tuple[Finding, ...]], session_key: Hashable | None, body: Mapping[str, object],
                 *, max_block_chars: int = DEFAULT_MAX_BLOCK_CHARS) -> RequestPlan:
    memory: OrderedDict[BlockKey, tuple[Finding, ...]] = (
        OrderedDict() if session_key is None else seen.session(session_key))
    plan = RequestPlan(memory, [], [], [], 0)
    pending: dict[BlockKey, int] = {}  # a text twice in one request is scanned once
    for item in scannable(body):
        if not isinstance(item, Located):
            plan.unscanned.append(Unscanned(Where(item.message_index, item.block_index, item.part_index, item.kind),
                                            "binary", 0))
            continue
        plan.blocks += 1
        text = item.text
        if len(text) > max_block_chars:
            # neither scanned nor remembered: it is reported on every request that carries it
            plan.unscanned.append(Unscanned(_where(item), "too_large", len(text)))
            continue
        key = block_key(text)
        known, outcome = seen.lookup(memory, key)
        if known and outcome is not None:
            if outcome:  # a clean block seen before costs nothing more
                plan.items.append((item, outcome))
        elif key in pending:
            plan.items.append((item, -1 - pending[key]))
        else:
            pending[key] = len(plan.to_scan)
            plan.items.append((item, len(plan.to_scan)))
            plan.to_scan.append(text)
            plan.chars_to_scan += len(text)
    return plan


def scan_texts(scanner: SecretScanner, texts: list[str]) -> list[tuple[Finding, ...]]:
    """Pure and thread-safe: the scanner holds no per-scan state."""
    return [scanner.scan(text) for text in texts]


def finish_request(seen: SeenBlocks[tuple[Finding, ...]], plan: RequestPlan,
                   scanned: list[tuple[Finding, ...]]) -> ScanReport:
    findings: list[LocatedFinding] = []
    for text, found in zip(plan.to_scan, scanned, strict=True):
        seen.remember(plan.memory, block_key(text), found)
    for item, outcome in plan.items:
        if isinstance(outcome, int):
            repeat = outcome < 0
            block = scanned[-1 - outcome if repeat else outcome]
        else:
            repeat, block = True, outcome
        if block:
            where = _where(item)
            findings.extend(LocatedFinding(finding.rule, where, finding.offset, finding.line, finding.fingerprint,
                                           repeat) for finding in block)
    return ScanReport(tuple(findings), tuple(plan.unscanned), plan.blocks, len(plan.to_scan), plan.chars_to_scan)


def scan_request(scanner: SecretScanner, seen: SeenBlocks[tuple[Finding, ...]], session_key: Hashable | None,
                 body: Mapping[str, object], *, max_block_chars: int = DEFAULT_MAX_BLOCK_CHARS) -> ScanReport:
    """The three steps at once, on the calling thread."""
    plan = plan_request(seen, session_key, body, max_block_chars=max_block_chars)
    return finish_request(seen, plan, scan_texts(scanner, plan.to_scan))
