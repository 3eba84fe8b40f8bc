"""A deterministic stand-in for Anthropic prompt caching, so usage numbers look like production's.

Rule: the prompt is tools → system → messages (Anthropic's cache order). A cumulative hash is taken
at every boundary (after tools+system, after each message), ignoring what does not change the
prompt: where ``cache_control`` markers sit, string-vs-text-block content, and Claude Code's
per-request billing tag in the system prompt. The longest boundary seen before in this server's
lifetime is a cache read; when the request carries any ``cache_control`` marker the rest of the
prompt is a cache write (5-minute TTL unless a ``"ttl":"1h"`` marker appears), and whatever is left
of the body (model, metadata, settings…) is uncached input. As on the real API, prompts under
``min_cacheable_tokens`` are never cached. Tokens are estimated as bytes / 4.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

BYTES_PER_TOKEN = 4


def estimate_tokens(byte_count: int) -> int:
    return max(1, byte_count // BYTES_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class InputUsage:
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    ephemeral_5m_input_tokens: int
    ephemeral_1h_input_tokens: int

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


_BILLING_HEADER_PREFIX = "x-anthropic-billing-header:"


def _cache_view(content: Any) -> Any:
    """What the cache keys on: cache_control markers moved or a string turned into a text block
    do not change the prompt (Claude Code does both between turns), so neither changes the key."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [
            {k: v for k, v in block.items() if k != "cache_control"}
            if isinstance(block, dict) and "cache_control" in block
            else block
            for block in content
        ]
    return content


def _cacheable_system(system: Any) -> Any:
    # Claude Code's first system block carries a per-request billing tag; it never breaks the cache.
    if isinstance(system, list):
        system = [
            block
            for block in system
            if not (isinstance(block, dict) and str(block.get("text", "")).startswith(_BILLING_HEADER_PREFIX))
        ]
    return _cache_view(system)


def _prompt_boundaries(body: dict[str, Any]) -> list[tuple[int, int]]:
    """(key, prompt bytes so far) after tools+system and after each message.

    Keys chain Python's built-in bytes hash (SipHash): several times faster than hashlib on
    multi-megabyte prompts, and stable for the life of the process, which is all the cache needs.
    The chain starts from the model: like Anthropic's, the cache is per model, so switching models
    mid-conversation writes the whole prompt again.
    """
    key = hash(str(body.get("model")))
    length = 0
    for part in (body.get("tools"), _cacheable_system(body.get("system"))):
        encoded = orjson.dumps(part)
        key = hash((key, encoded))
        length += len(encoded)
    boundaries = [(key, length)]
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                encoded = orjson.dumps((message.get("role"), _cache_view(message.get("content"))))
            else:
                encoded = orjson.dumps(message)
            key = hash((key, encoded))
            length += len(encoded)
            boundaries.append((key, length))
    return boundaries


class PromptCacheSimulator:
    """Remembers prompt prefixes (bounded, least recently used first out). Event-loop thread only."""

    def __init__(self, max_entries: int = 100_000, min_cacheable_tokens: int = 1024) -> None:
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._max_entries = max_entries
        self._min_cacheable_tokens = min_cacheable_tokens

    def account(self, body: dict[str, Any], raw_body: bytes) -> InputUsage:
        total = estimate_tokens(len(raw_body))
        boundaries = _prompt_boundaries(body)
        prompt_tokens = boundaries[-1][1] // BYTES_PER_TOKEN
        if prompt_tokens < self._min_cacheable_tokens:
            return InputUsage(total, 0, 0, 0, 0)

        read_bytes = 0
        for key, length in reversed(boundaries):
            if key in self._seen:
                self._seen.move_to_end(key)
                read_bytes = length
                break
        read = min(read_bytes // BYTES_PER_TOKEN, total)

        creation = 0
        if b'"cache_control"' in raw_body:
            creation = min(prompt_tokens - read, total - read)
            self._remember(key for key, _ in boundaries)
        one_hour = creation if (b'"ttl":"1h"' in raw_body or b'"ttl": "1h"' in raw_body) else 0
        return InputUsage(
            input_tokens=total - read - creation,
            cache_creation_input_tokens=creation,
            cache_read_input_tokens=read,
            ephemeral_5m_input_tokens=creation - one_hour,
            ephemeral_1h_input_tokens=one_hour,
        )

    def _remember(self, keys: Iterable[int]) -> None:
        for key in keys:
            self._seen[key] = None
            self._seen.move_to_end(key)
        while len(self._seen) > self._max_entries:
            self._seen.popitem(last=False)
