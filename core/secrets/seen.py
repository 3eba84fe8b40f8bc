"""A bounded memory of the blocks each session has already had scanned, and what was found in them.
Pure data structure: no clock, no I/O; the caller owns one per process and passes it in.

Claude Code resends the whole history every turn; remembering each block's outcome by a digest of
its text is what lets a turn pay only for what is new. Two caps bound the memory whatever the
traffic: the number of sessions remembered (least recently used first out) and the number of
blocks per session (least recently seen first out). A block forgotten is scanned again, which costs
time, never a missed finding.

The key is ``(len(text), hash(text))``. Python's string hash is SipHash keyed at random per process
(unless PYTHONHASHSEED is pinned), so nobody outside the process can craft a clean text that
collides with a dirty one; it costs about a third of a cryptographic digest (bench/README.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

# ~180 bytes per remembered block (measured with tracemalloc): at most ~46 MB with these caps. A
# session forgotten costs one whole-body scan when it comes back (1–3 ms, bench/README.md).
DEFAULT_MAX_SESSIONS = 256
DEFAULT_MAX_BLOCKS_PER_SESSION = 1024  # a Claude Code session has ~200–400 scannable blocks between compactions

BlockKey = tuple[int, int]
Outcome = TypeVar("Outcome")


def block_key(text: str) -> BlockKey:
    return len(text), hash(text)


class SeenBlocks(Generic[Outcome]):
    """session → {block key → outcome}, both levels LRU. ``outcome`` is whatever the caller stores
    (the scanner stores the findings of the block, or None for "too large, not scanned")."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS,
                 max_blocks_per_session: int = DEFAULT_MAX_BLOCKS_PER_SESSION) -> None:
        if max_sessions < 1 or max_blocks_per_session < 1:
            raise ValueError("SeenBlocks caps must be at least 1")
        self.max_sessions = max_sessions
        self.max_blocks_per_session = max_blocks_per_session
        self._sessions: OrderedDict[Hashable, OrderedDict[BlockKey, Outcome]] = OrderedDict()
        self.evicted_sessions = 0
        self.evicted_blocks = 0

    def session(self, session: Hashable) -> OrderedDict[BlockKey, Outcome]:
        """The session's memory, created if new, marked most recently used."""
        blocks = self._sessions.get(session)
        if blocks is None:
            blocks = OrderedDict()
            self._sessions[session] = blocks
            if len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
                self.evicted_sessions += 1
        else:
            self._sessions.move_to_end(session)
        return blocks

    def lookup(self, blocks: OrderedDict[BlockKey, Outcome], key: BlockKey) -> tuple[bool, Outcome | None]:
        """(seen before?, its outcome)."""
        if key not in blocks:
            return False, None
        blocks.move_to_end(key)
        return True, blocks[key]

    def remember(self, blocks: OrderedDict[BlockKey, Outcome], key: BlockKey, outcome: Outcome) -> None:
        blocks[key] = outcome
        blocks.move_to_end(key)
        if len(blocks) > self.max_blocks_per_session:
            blocks.popitem(last=False)
            self.evicted_blocks += 1

    def __len__(self) -> int:
        return len(self._sessions)

    def block_count(self) -> int:
        return sum(len(blocks) for blocks in self._sessions.values())
