"""SQLAlchemy result rows → polars DataFrames with a fixed schema (so an empty result still has the
right columns and types)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, Numeric, String, Text
from sqlalchemy.sql.elements import ColumnElement

# Columns holding free-form JSON objects come back as JSON text; decode with .str.json_decode().
JSON_OBJECT_COLUMNS = frozenset({"attributes"})


def polars_dtype(name: str, sa_type: Any) -> pl.DataType:
    if isinstance(sa_type, JSON):
        return pl.String() if name in JSON_OBJECT_COLUMNS else pl.List(pl.String())
    if isinstance(sa_type, Numeric) and not isinstance(sa_type, Float):
        return pl.Decimal(38, sa_type.scale or 0)
    if isinstance(sa_type, BigInteger | Integer):
        return pl.Int64()
    if isinstance(sa_type, Float):
        return pl.Float64()
    if isinstance(sa_type, Boolean):
        return pl.Boolean()
    if isinstance(sa_type, DateTime):
        return pl.Datetime("us")
    if isinstance(sa_type, String | Text):
        return pl.String()
    raise TypeError(f"no polars type for column {name} ({sa_type!r})")


def schema_of(columns: Sequence[ColumnElement[Any]]) -> dict[str, pl.DataType]:
    return {column.key: polars_dtype(column.key, column.type) for column in columns}


def to_frame(rows: Iterable[Sequence[Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    object_positions = [i for i, name in enumerate(schema) if name in JSON_OBJECT_COLUMNS]
    if object_positions:
        rows = [_encode_objects(row, object_positions) for row in rows]
    return pl.DataFrame(list(rows), schema=schema, orient="row")


def _encode_objects(row: Sequence[Any], positions: list[int]) -> list[Any]:
    values = list(row)
    for i in positions:
        values[i] = json.dumps(values[i], sort_keys=True)
    return values
