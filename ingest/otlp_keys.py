"""The virtual keys ingest accepts as telemetry credentials: the store's (minted by the admin API)
and, when configured, the keys file `switchyard keys create` writes (a proxy's local keys)."""

from __future__ import annotations

from pathlib import Path

import orjson
from sqlalchemy import Engine

from core.keys import KeyRing
from store.keys import key_records


def virtual_keys(engine: Engine, keys_file: Path | None) -> KeyRing:
    records = key_records(engine)
    if keys_file is not None:
        try:
            raw = keys_file.read_bytes()
        except FileNotFoundError:
            raw = None
        if raw is not None:
            # a key in both places is the same key: the store's record (revocations there) wins
            stored = {record.key_id for record in records}
            records += [r for r in KeyRing.from_document(orjson.loads(raw)).records() if r.key_id not in stored]
    return KeyRing(records)
