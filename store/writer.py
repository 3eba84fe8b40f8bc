"""Bulk, idempotent writes: ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` tells which rows are new,
and only those are folded into the hourly rollup, in the same transaction. A re-sent batch
therefore changes nothing, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite

from store.bulk import insert_new_turns
from store.insert_ignore import insert_ignore
from store.rollup import rollup_deltas
from store.rows import row_key
from store.schema import ROLLUP_KEYS, ROLLUP_SUMS, logs, rollup_hourly


@dataclass(frozen=True, slots=True)
class WriteResult:
    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


def _insert(connection: Connection, table: Table) -> Any:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"no idempotent insert for the {dialect} dialect")


def write_turns(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> WriteResult:
    """Insert turn rows (from :func:`store.rows.turn_row`); rows whose (trace_id, span_id) is already
    stored, or repeated within ``rows``, are skipped and do not count in the rollup."""
    unique = _first_per_key(rows)
    if not unique:
        return WriteResult(received=len(rows), inserted=0)
    with engine.begin() as connection:
        new_keys = insert_new_turns(connection, unique)
        new_rows = [row for row in unique if row_key(row) in new_keys]
        add_to_rollup(connection, rollup_deltas(new_rows))
    return WriteResult(received=len(rows), inserted=len(new_rows))


def add_to_rollup(connection: Connection, deltas: Sequence[Mapping[str, Any]]) -> None:
    if not deltas:
        return
    statement = _insert(connection, rollup_hourly)
    statement = statement.on_conflict_do_update(
        index_elements=[rollup_hourly.c[name] for name in ROLLUP_KEYS],
        set_={name: rollup_hourly.c[name] + statement.excluded[name] for name in ROLLUP_SUMS},
    )
    connection.execute(statement, list(deltas))


def write_logs(engine: Engine, rows: Sequence[Mapping[str, Any]]) -> WriteResult:
    """Insert log-event rows; a record already stored (same ``record_hash``) is skipped."""
    first: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        first.setdefault(row["record_hash"], row)
    unique = list(first.values())
    if not unique:
        return WriteResult(received=len(rows), inserted=0)
    with engine.begin() as connection:
        # the bulk path (one JSON document per chunk on PostgreSQL): a RETURNING insert of many rows
        # made psycopg parse a statement of thousands of placeholders, ~5x slower per record
        inserted = insert_ignore(connection, logs, unique, conflict=("record_hash",), omit=("id",))
    return WriteResult(received=len(rows), inserted=inserted)


def _first_per_key(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    # Sorted by key: concurrent PostgreSQL writers then take row locks in one order.
    first: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in rows:
        first.setdefault(row_key(row), row)
    return [first[key] for key in sorted(first)]
