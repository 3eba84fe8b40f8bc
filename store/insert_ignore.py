"""Fast ``INSERT … ON CONFLICT (primary key) DO NOTHING`` of many rows into any table, returning how
many were new. Used for data written in bulk (eval scores, cluster members, telemetry events):
millions of rows per run, so the rows go to the driver in one statement per chunk instead of through
SQLAlchemy's per-row parameter processing (see store.bulk for the measurements behind this).

* PostgreSQL: ``INSERT … SELECT … FROM json_populate_recordset(NULL::table, $1)``: one JSON
  document per chunk, a short constant statement text.
* SQLite: ``executemany`` of one prepared statement (sqlite3 steps it per row in C).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Numeric, Table

POSTGRES_CHUNK = 20_000


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _sqlite_datetime(value: datetime) -> str:
    # SQLAlchemy's SQLite DateTime storage format; range queries compare these strings.
    return value.isoformat(sep=" ", timespec="microseconds")


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, JSON):
        return json.dumps
    if isinstance(column_type, DateTime):
        return _sqlite_datetime
    if isinstance(column_type, Numeric) and column_type.asdecimal:
        return str
    return None


def _sqlite_rows(table: Table, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    converters = [(i, convert) for i, name in enumerate(names) if (convert := _sqlite_converter(table.c[name].type))]
    values = []
    for row in rows:
        record = [row.get(name) for name in names]
        for i, convert in converters:
            if record[i] is not None:
                record[i] = convert(record[i])
        values.append(tuple(record))
    return values


def insert_ignore(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                  conflict: Sequence[str] | None = None, omit: Sequence[str] = ()) -> int:
    """Insert ``rows``, skipping those that collide on ``conflict`` (default: the primary key);
    ``omit`` names columns the database fills in (an autoincrement id)."""
    if not rows:
        return 0
    names = [column.name for column in table.c if column.name not in omit]
    column_list = ", ".join(f'"{name}"' for name in names)
    keys = ", ".join(f'"{name}"' for name in (conflict or [column.name for column in table.primary_key.columns]))
    dialect = connection.dialect.name
    if dialect == "postgresql":
        statement = (
            f'INSERT INTO "{table.name}" ({column_list}) SELECT {column_list} '
            f'FROM json_populate_recordset(NULL::"{table.name}", %s) ON CONFLICT ({keys}) DO NOTHING'
        )
        inserted = 0
        for start in range(0, len(rows), POSTGRES_CHUNK):
            chunk = [{name: row.get(name) for name in names} for row in rows[start:start + POSTGRES_CHUNK]]
            document = json.dumps(chunk, default=_json_default, ensure_ascii=False)
            inserted += connection.exec_driver_sql(statement, (document,)).rowcount
        return inserted
    if dialect == "sqlite":
        placeholders = ", ".join("?" * len(names))
        statement = (f'INSERT INTO "{table.name}" ({column_list}) VALUES ({placeholders}) '
                     f"ON CONFLICT ({keys}) DO NOTHING")
        return connection.exec_driver_sql(statement, _sqlite_rows(table, names, rows)).rowcount
    raise NotImplementedError(f"no bulk insert for the {dialect} dialect")
