"""Replaying the journal a previous process left: which finished turns ingest never took, and which
turns started but never finished (the process died mid-stream)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from core.spans import SY_DEVELOPER, Turn

from .journal_records import Kind, Pending, decode_seqs, label, read_segment, segments
from .turn_record import interrupted, turn_from_json

log = logging.getLogger("switchyard.proxy.journal")


@dataclass(slots=True)
class Recovered:
    next_seq: int = 1
    last_segment: int = 0
    segments: list[tuple[int, Path, int]] = field(default_factory=list)  # (id, path, size)
    unacked: list[Pending] = field(default_factory=list)
    open_segments: dict[int, list[int]] = field(default_factory=dict)  # open seq -> segments holding it
    interrupted: list[tuple[int, Turn]] = field(default_factory=list)  # (open seq, the turn as recorded)
    torn: int = 0


def _label_of(payload: bytes) -> str:
    try:
        span = Span.FromString(payload)
    except DecodeError:
        return "an undecodable span"
    developer = next((kv.value.string_value for kv in span.attributes if kv.key == SY_DEVELOPER), None)
    return label(span.trace_id, span.span_id, developer)


def recover(directory: Path, resident: int) -> Recovered:
    """Read every segment (blocking). ``resident``: how many undelivered spans to keep in memory."""
    result = Recovered()
    latest_open: dict[int, tuple[int, bytes]] = {}  # open seq -> (seq of its latest record, payload)
    closed: set[int] = set()
    done: dict[int, Pending] = {}
    acked: set[int] = set()
    top = 0
    for segment_id, path in segments(directory):
        data = path.read_bytes()
        records, clean = read_segment(data)
        result.torn += not clean
        result.segments.append((segment_id, path, len(data)))
        result.last_segment = segment_id
        for record in records:
            top = max(top, record.seq)
            if record.kind is Kind.OPEN or record.kind is Kind.PROGRESS:
                opened = record.ref or record.seq
                result.open_segments.setdefault(opened, []).append(segment_id)
                if record.seq >= latest_open.get(opened, (0, b""))[0]:
                    latest_open[opened] = (record.seq, record.payload)
            elif record.kind is Kind.DONE:
                if record.ref:
                    closed.add(record.ref)
                keep = len(done) < resident
                done[record.seq] = Pending(record.seq, len(record.payload), record.payload if keep else None,
                                           segment_id, record.offset, _label_of(record.payload))
            else:
                acked.update(decode_seqs(record.payload))
    result.next_seq = top + 1
    result.unacked = [pending for seq, pending in sorted(done.items()) if seq not in acked]
    for opened in closed:
        result.open_segments.pop(opened, None)
    for opened, (_, payload) in sorted(latest_open.items()):
        if opened in closed:
            continue
        try:
            turn = turn_from_json(payload)
        except (ValueError, TypeError, KeyError) as error:
            log.warning("journal: an unreadable start record (%s) skipped", error)
            result.open_segments.pop(opened, None)
            continue
        result.interrupted.append((opened, interrupted(turn, turn.end_ns)))
    return result
