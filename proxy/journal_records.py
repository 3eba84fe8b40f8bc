"""The journal's on-disk format: length-prefixed, checksummed records in segment files.

A record is a header ``<IIBQQ`` — payload length, crc32 of everything after the crc, kind, seq,
ref — followed by the payload. A crash mid-write leaves at most one torn record at the end of the
last segment; reading stops there (its checksum or length does not match), so a half-written
record is never taken for a turn.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

HEADER = struct.Struct("<IIBQQ")
_AFTER_CRC = struct.Struct("<BQQ")
_SEQS = "<{}Q"
SUFFIX = ".journal"


@dataclass(slots=True)
class Pending:
    """A finished turn not yet taken by ingest. ``data`` (its encoded span) is None when it is kept
    on disk only (more are waiting than the journal keeps in memory)."""

    seq: int
    size: int
    data: bytes | None
    segment: int
    offset: int
    label: str  # "trace … span … developer …" for log lines: never a key
    attempts: int = 0


def label(trace_id: bytes, span_id: bytes, developer: str | None) -> str:
    return f"trace {trace_id.hex()} span {span_id.hex()} developer {(developer or '-')[:64]!r}"


class Kind(IntEnum):
    OPEN = 1  # a turn started: what was known then (turn_to_json); seq is the turn's journal id
    PROGRESS = 2  # the same turn later, with what the tap had counted; ref = the OPEN's seq
    DONE = 3  # a finished turn: its encoded OTLP span; ref = its OPEN's seq (0: it never opened)
    ACK = 4  # DONE records that need no more delivery (taken by ingest, or dead-lettered)


_KINDS = frozenset(int(kind) for kind in Kind)


@dataclass(frozen=True, slots=True)
class Record:
    kind: Kind
    seq: int
    ref: int
    offset: int  # of the payload, in its segment file
    payload: bytes


def encode(kind: Kind, seq: int, ref: int, payload: bytes) -> bytes:
    tail = _AFTER_CRC.pack(kind, seq, ref)
    crc = zlib.crc32(payload, zlib.crc32(tail))
    return HEADER.pack(len(payload), crc, kind, seq, ref) + payload


def encode_seqs(seqs: list[int]) -> bytes:
    return struct.pack(_SEQS.format(len(seqs)), *seqs)


def decode_seqs(payload: bytes) -> tuple[int, ...]:
    return struct.unpack(_SEQS.format(len(payload) // 8), payload[: len(payload) // 8 * 8])


def read_segment(data: bytes) -> tuple[list[Record], bool]:
    """The intact records of one segment's bytes, and whether the segment ended cleanly (False: a
    torn or corrupt record stopped the reading)."""
    records: list[Record] = []
    position = 0
    while position < len(data):
        if position + HEADER.size > len(data):
            return records, False
        length, crc, kind, seq, ref = HEADER.unpack_from(data, position)
        start = position + HEADER.size
        payload = data[start : start + length]
        tail = data[position + 8 : start]
        if len(payload) != length or zlib.crc32(payload, zlib.crc32(tail)) != crc or kind not in _KINDS:
            return records, False
        records.append(Record(Kind(kind), seq, ref, start, payload))
        position = start + length
    return records, True


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SUFFIX}"


def segments(directory: Path) -> Iterator[tuple[int, Path]]:
    """(segment id, path), oldest first."""
    found = []
    for path in directory.glob(f"*{SUFFIX}"):
        try:
            found.append((int(path.stem), path))
        except ValueError:
            continue
    yield from sorted(found)
