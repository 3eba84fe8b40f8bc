"""OTLP/JSON, which is *not* protobuf's default JSON mapping: trace and span ids are hex strings
(protobuf's mapping would read them as base64), field names are lowerCamelCase, enums may be
integers and 64-bit integers may be numbers or strings. The envelope is walked by hand so that each
span or log record is converted on its own: a bad one is rejected, the rest lands."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from ingest.errors import UndecodableBodyError

_HEX = re.compile(r"[0-9a-fA-F]*")
# id fields holding hex in OTLP/JSON, at the top of a span / log record and inside span links
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class ItemDecodeError(ValueError):
    """One span or log record cannot be decoded; the message says why."""


def load_document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise UndecodableBodyError(f"body is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise UndecodableBodyError("OTLP/JSON body must be a JSON object")
    return document


def _list(container: dict[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = container.get(camel, container.get(snake))
    if value is None:
        return []
    if not isinstance(value, list):
        raise UndecodableBodyError(f"{where}.{camel} must be an array")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UndecodableBodyError(f"{where} must be an object")
    return value


def walk(document: dict[str, Any], resource_key: str, scope_key: str,
         items_key: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """(resource object, item) for every item under resourceX[].scopeX[].items[]. ``*_key`` are the
    lowerCamelCase names, e.g. ("resourceSpans", "scopeSpans", "spans")."""
    snake = {name: re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)
             for name in (resource_key, scope_key, items_key)}
    for r, resource_entry in enumerate(_list(document, resource_key, snake[resource_key], "body")):
        where = f"{resource_key}[{r}]"
        resource_entry = _object(resource_entry, where)
        resource = resource_entry.get("resource") or {}
        for s, scope_entry in enumerate(_list(resource_entry, scope_key, snake[scope_key], where)):
            scope_where = f"{where}.{scope_key}[{s}]"
            scope_entry = _object(scope_entry, scope_where)
            for item in _list(scope_entry, items_key, snake[items_key], scope_where):
                yield resource, item


def _hex_id(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) % 2:
        raise ItemDecodeError(f"{name} must be a hex string")
    return bytes.fromhex(value)


def _split_ids(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    rest = {key: value for key, value in item.items() if key not in _ID_FIELDS}
    ids = {}
    for key in _ID_FIELDS:
        if key in item and item[key] not in (None, ""):
            snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), key)
            ids[snake] = _hex_id(item[key], key)
    return rest, ids


def parse_item(item: Any, message: Message) -> Message:
    """Fill ``message`` (a Span or LogRecord) from one OTLP/JSON object; raises ItemDecodeError."""
    if not isinstance(item, dict):
        raise ItemDecodeError("must be a JSON object")
    rest, ids = _split_ids(item)
    # span links carry hex ids too; other messages (log records) have no links field
    links = rest.pop("links", None) if "links" in message.DESCRIPTOR.fields_by_name else None
    try:
        json_format.ParseDict(rest, message, ignore_unknown_fields=True)
        for name, value in ids.items():
            setattr(message, name, value)
        if links is not None:
            if not isinstance(links, list):
                raise ItemDecodeError("links must be an array")
            for link in links:
                if not isinstance(link, dict):
                    raise ItemDecodeError("each link must be an object")
                link_rest, link_ids = _split_ids(link)
                parsed = message.links.add()  # type: ignore[attr-defined]
                json_format.ParseDict(link_rest, parsed, ignore_unknown_fields=True)
                for name, value in link_ids.items():
                    setattr(parsed, name, value)
    except (json_format.ParseError, ValueError, TypeError, OverflowError, RecursionError) as error:
        # ValueError also covers strings protobuf cannot encode (lone surrogates); OverflowError
        # numbers beyond any integer (1e999 parses to inf) in an integer or enum field
        raise ItemDecodeError(f"invalid OTLP/JSON: {error}") from error
    return message


def parse_resource_attributes(resource: Any, message: Message) -> Message:
    if not isinstance(resource, dict):
        raise ItemDecodeError("resource must be an object")
    try:
        json_format.ParseDict(resource, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, OverflowError, RecursionError) as error:
        raise ItemDecodeError(f"invalid resource: {error}") from error
    return message


def message_to_json(message: Message) -> bytes:
    """A response message in OTLP/JSON (lowerCamelCase; no ids in responses, so no hex concerns)."""
    return json.dumps(json_format.MessageToDict(message)).encode()
