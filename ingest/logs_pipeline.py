"""Claude Code's own telemetry events (OTLP log records, CLAUDE_CODE_ENABLE_TELEMETRY=1) → rows of
the logs table. Pure. Events such as ``claude_code.tool_result`` (with ``success``),
``claude_code.api_error`` and ``claude_code.user_prompt`` carry ``session.id`` as an attribute,
which is what joins them to turns."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from core.redact import redact, redact_json
from core.spans import python_value
from ingest.decode import Batch, LogItem, Rejection
from store.rows import MAX_UNIX_NS, ns_to_datetime

SESSION_ID = "session.id"
EVENT_NAME = "event.name"
SUCCESS = "success"
CLAUDE_CODE_SERVICE = "claude-code"
CLAUDE_CODE_PREFIX = "claude_code."


class LogRecordError(ValueError):
    """A log record that cannot be stored; the message says why."""


@dataclass(slots=True)
class PreparedLogs:
    rows: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)  # each row's position in the request
    rejections: list[Rejection] = field(default_factory=list)


def jsonable(value: Any) -> Any:
    """An attribute value as JSON both databases accept: bytes as base64, non-finite floats as
    strings; strings with NUL or lone surrogates (JSONB and UTF-8 refuse them) are an error."""
    if isinstance(value, str):
        if "\x00" in value:
            raise LogRecordError("a string contains a NUL character")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as error:
                raise LogRecordError("a string is not valid Unicode") from error
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(jsonable(key)): jsonable(item) for key, item in value.items()}
    return value


def event_name_of(item: LogItem, attributes: dict[str, Any], body: Any) -> str | None:
    record = item.record
    if record.event_name:
        return str(jsonable(record.event_name))
    if isinstance(body, str) and body.startswith(CLAUDE_CODE_PREFIX) and " " not in body:
        return body
    name = attributes.get(EVENT_NAME)
    if not isinstance(name, str) or not name:
        return None
    if "." not in name and item.resource_attributes.get("service.name") == CLAUDE_CODE_SERVICE:
        return CLAUDE_CODE_PREFIX + name
    return name


def _success(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def log_row(item: LogItem, ingested_at: datetime, *, redact_values: bool,
            window: tuple[int, int] = (1, MAX_UNIX_NS)) -> dict[str, Any]:
    """``window``: the earliest and latest unix-ns time accepted (the retention window, clock skew)."""
    record = item.record
    time_ns = record.time_unix_nano or record.observed_time_unix_nano
    if not 0 < time_ns <= MAX_UNIX_NS:
        raise LogRecordError("timestamp missing or out of range")
    if not window[0] <= time_ns <= window[1]:
        raise LogRecordError("timestamp outside the retention window or in the future")
    record_attributes = {kv.key: python_value(kv.value) for kv in record.attributes}
    attributes = jsonable({**item.resource_attributes, **record_attributes})
    body = jsonable(python_value(record.body))
    body_text = body if isinstance(body, str) or body is None else json.dumps(body, sort_keys=True)
    event_name = event_name_of(item, attributes, body)
    session_id = attributes.get(SESSION_ID)
    identity = json.dumps(item.resource_attributes, sort_keys=True, default=repr).encode()
    record_hash = hashlib.sha256(identity + record.SerializeToString(deterministic=True)).hexdigest()
    if redact_values:
        attributes = redact_json(attributes)
        body_text = None if body_text is None else redact(body_text)
        session_id = redact(session_id) if isinstance(session_id, str) else session_id
    severity = jsonable(record.severity_text) or (
        SeverityNumber.Name(record.severity_number) if record.severity_number in SeverityNumber.values() else None
    )
    return {
        "record_hash": record_hash,
        "session_id": session_id if isinstance(session_id, str) else None,
        "event_name": event_name,
        "timestamp": ns_to_datetime(time_ns),
        "time_ns": time_ns,
        "severity": severity if record.severity_number or record.severity_text else None,
        "body": body_text,
        "success": _success(attributes.get(SUCCESS)),
        "trace_id": record.trace_id.hex() if len(record.trace_id) == 16 else None,
        "span_id": record.span_id.hex() if len(record.span_id) == 8 else None,
        "attributes": attributes,
        "ingested_at": ingested_at,
    }


def prepare_logs(batch: Batch[LogItem], ingested_at: datetime, *, redact_values: bool,
                 window: tuple[int, int] = (1, MAX_UNIX_NS)) -> PreparedLogs:
    prepared = PreparedLogs(rejections=list(batch.rejections))
    for index, item in batch.items:
        try:
            prepared.rows.append(log_row(item, ingested_at, redact_values=redact_values, window=window))
            prepared.indexes.append(index)
        except LogRecordError as error:
            prepared.rejections.append(Rejection(index, str(error)))
    prepared.rejections.sort(key=lambda rejection: rejection.index)
    return prepared
