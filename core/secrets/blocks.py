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


# The walkers append to one list instead of nesting generators: a long Claude Code history has
# hundreds of messages, and a generator per message and per block was half the cost of a turn
# whose blocks were all seen before.
def _parts(out: list[Item], content: object, message_index: int, block_index: int, kind: Kind) -> None:
    """The texts inside a tool_result's / document's / search result's ``content``."""
    if isinstance(content, str):
        out.append(Located(message_index, block_index, None, kind, content))
        return
    if not isinstance(content, list):
        return
    for part_index, part in enumerate(content):
        if not isinstance(part, _OBJECT):
            continue
        part_type = part.get("type")
        if part_type == "text":
            text = part.get("text")
            if isinstance(text, str):
                out.append(Located(message_index, block_index, part_index, kind, text))
        elif part_type == "document" or part_type == "search_result":
            inner: list[Item] = []
            if part_type == "document":
                _document(inner, part, message_index, block_index)
            else:
                _parts(inner, part.get("content"), message_index, block_index, kind)
            out.extend(_with_part(item, part_index) for item in inner)
        elif part_type == "image":
            out.append(Skipped(message_index, block_index, part_index, "image"))


def _with_part(item: Item, part_index: int) -> Item:
    if isinstance(item, Located):
        return Located(item.message_index, item.block_index, part_index, item.kind, item.text)
    return Skipped(item.message_index, item.block_index, part_index, item.kind)


def _document(out: list[Item], block: Mapping[str, object], message_index: int, block_index: int) -> None:
    source = block.get("source")
    if not isinstance(source, _OBJECT):
        return
    source_type = source.get("type")
    data = source.get("data")
    if source_type == "text" and isinstance(data, str):
        out.append(Located(message_index, block_index, None, "document", data))
    elif source_type == "content":
        _parts(out, source.get("content"), message_index, block_index, "document")
    elif source_type == "base64":
        out.append(Skipped(message_index, block_index, None, "document"))
    # "url" and "file" sources hold a reference, not the content: nothing leaves in this request


def _content(out: list[Item], content: object, message_index: int) -> None:
    if isinstance(content, str):
        out.append(Located(message_index, 0, None, "text", content))
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
                out.append(Located(message_index, block_index, None, "text", text))
        elif block_type == "tool_result":
            _parts(out, block.get("content"), message_index, block_index, "tool_result")
        elif block_type == "document":
            _document(out, block, message_index, block_index)
        elif block_type == "search_result":
            _parts(out, block.get("content"), message_index, block_index, "search_result")
        elif block_type == "image":
            out.append(Skipped(message_index, block_index, None, "image"))
        # thinking, redacted_thinking, tool_use and unknown types: not user-supplied text


def _system(out: list[Item], system: object) -> None:
    if isinstance(system, str):
        if not system.startswith(ATTRIBUTION_PREFIX):
            out.append(Located(SYSTEM, 0, None, "system", system))
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
        out.append(Located(SYSTEM, block_index, None, "system", text))


def scannable(body: Mapping[str, object]) -> Iterator[Item]:
    """Every text of ``body`` to scan (and every binary block skipped), in request order."""
    out: list[Item] = []
    _system(out, body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list):
        for message_index, message in enumerate(messages):
            if isinstance(message, _OBJECT) and message.get("role") in ("user", "system"):
                _content(out, message.get("content"), message_index)
    return iter(out)
