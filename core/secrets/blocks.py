"""Which texts of an Anthropic Messages request leave through the gateway and are worth scanning.
Pure: a parsed body in, located texts out; the body is never changed (Claude Code's requests must
reach the provider byte for byte, so the guardrail can flag or block, never redact).

Scanned: the ``system`` blocks after Claude Code's attribution block, and in ``user`` and
``system`` messages every text block, every ``tool_result``'s content (a string, or text blocks,
documents and search results inside it), documents (plain-text sources and content blocks) and
search results.

Not scanned, on purpose:
- ``assistant`` messages. They came from the provider, which has seen whatever they contain; their
  ``thinking``/``redacted_thinking`` blocks must come back unchanged anyway, and a fake key the
  model wrote into an example would block a session its developer cannot repair.
- The first ``system`` block when it is Claude Code's attribution header (a billing/version line
  the provider strips by position).
- Images and base64 documents (PDFs): binary, not text; reported as ``skipped`` so a caller can
  count them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

ATTRIBUTION_PREFIX = "x-anthropic-billing-header:"
# Parsed JSON is made of dicts: checking for dict first spares the abstract-class check (a few µs a
# request over a long history); any other Mapping is still walked.
_OBJECT = (dict, Mapping)
SYSTEM = -1  # message_index of the top-level system prompt

Kind = Literal["text", "tool_result", "document", "search_result", "system"]


@dataclass(frozen=True, slots=True)
class Located:
    """One text to scan and where it is: ``message_index`` (``SYSTEM`` for the top-level system
    prompt), ``block_index`` within that message's content (0 for a string content), and
    ``part_index`` inside a tool_result / document / search_result (None when the block is the text)."""

    message_index: int
    block_index: int
    part_index: int | None
    kind: Kind
    text: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A block that carries data but is not text (an image, a base64 PDF)."""

    message_index: int
    block_index: int
    part_index: int | None
    kind: str


Item = Located | Skipped


def _parts(content: object, message_index: int, block_index: int, kind: Kind) -> Iterator[Item]:
    """The texts inside a tool_result's / document's / search result's ``content``."""
    if isinstance(content, str):
        yield Located(message_index, block_index, None, kind, content)
        return
    if not isinstance(content, list):
        return
    for part_index, part in enumerate(content):
        if not isinstance(part, _OBJECT):
            continue
        part_type = part.get("type")
        text = part.get("text")
        if part_type == "text" and isinstance(text, str):
            yield Located(message_index, block_index, part_index, kind, text)
        elif part_type == "document":
            for item in _document(part, message_index, block_index):
                yield _with_part(item, part_index)
        elif part_type == "search_result":
            for item in _parts(part.get("content"), message_index, block_index, kind):
                yield _with_part(item, part_index)
        elif part_type == "image":
            yield Skipped(message_index, block_index, part_index, "image")


def _with_part(item: Item, part_index: int) -> Item:
    if isinstance(item, Located):
        return Located(item.message_index, item.block_index, part_index, item.kind, item.text)
    return Skipped(item.message_index, item.block_index, part_index, item.kind)


def _document(block: Mapping[str, object], message_index: int, block_index: int) -> Iterator[Item]:
    source = block.get("source")
    if not isinstance(source, _OBJECT):
        return
    source_type = source.get("type")
    data = source.get("data")
    if source_type == "text" and isinstance(data, str):
        yield Located(message_index, block_index, None, "document", data)
    elif source_type == "content":
        yield from _parts(source.get("content"), message_index, block_index, "document")
    elif source_type == "base64":
        yield Skipped(message_index, block_index, None, "document")
    # "url" and "file" sources hold a reference, not the content: nothing leaves in this request


def _content(content: object, message_index: int) -> Iterator[Item]:
    if isinstance(content, str):
        yield Located(message_index, 0, None, "text", content)
        return
    if not isinstance(content, list):
        return
    for block_index, block in enumerate(content):
        if not isinstance(block, _OBJECT):
            continue
        block_type = block.get("type")
        if block_type == "text":
            text = block.get("text")
            if isinstance(text, str):
                yield Located(message_index, block_index, None, "text", text)
        elif block_type == "tool_result":
            yield from _parts(block.get("content"), message_index, block_index, "tool_result")
        elif block_type == "document":
            yield from _document(block, message_index, block_index)
        elif block_type == "search_result":
            yield from _parts(block.get("content"), message_index, block_index, "search_result")
        elif block_type == "image":
            yield Skipped(message_index, block_index, None, "image")
        # thinking, redacted_thinking, tool_use and unknown types: not user-supplied text


def _system(system: object) -> Iterator[Item]:
    if isinstance(system, str):
        if not system.startswith(ATTRIBUTION_PREFIX):
            yield Located(SYSTEM, 0, None, "system", system)
        return
    if not isinstance(system, list):
        return
    for block_index, block in enumerate(system):
        if not isinstance(block, _OBJECT) or block.get("type") != "text":
            continue
        text = block.get("text")
        if not isinstance(text, str):
            continue
        if block_index == 0 and text.startswith(ATTRIBUTION_PREFIX):
            continue
        yield Located(SYSTEM, block_index, None, "system", text)


def scannable(body: Mapping[str, object]) -> Iterator[Item]:
    """Every text of ``body`` to scan (and every binary block skipped), in request order."""
    yield from _system(body.get("system"))
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for message_index, message in enumerate(messages):
        if isinstance(message, _OBJECT) and message.get("role") in ("user", "system"):
            yield from _content(message.get("content"), message_index)
