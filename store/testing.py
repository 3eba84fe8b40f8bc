"""Throwaway databases for tests and benchmarks: a uniquely named PostgreSQL schema (so parallel
runs on one server never collide) and a migrated SQLite file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from core.spans import Turn
from store.engine import AUDIT_TRUST_OPTION, make_engine
from store.migrate import upgrade
from store.schema import metadata

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_URL_ENV = "SWITCHYARD_TEST_POSTGRES_URL"


class PostgresUnavailableError(RuntimeError):
    """The test server cannot be reached; the message says where we looked."""


def postgres_server_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)


@contextmanager
def throwaway_postgres_schema(server_url: str | None = None, *, migrate: bool = True) -> Iterator[str]:
    """Create a fresh schema, yield a URL whose search_path points at it, drop it afterwards."""
    base = server_url or postgres_server_url()
    schema = f"sy_{os.getpid()}_{secrets.token_hex(4)}"
    admin = make_engine(base)
    try:
        try:
            with admin.begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        except OperationalError as error:
            raise PostgresUnavailableError(f"PostgreSQL at {base} is unreachable: {error.orig}") from error
        separator = "&" if "?" in base else "?"
        url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
        if migrate:
            upgrade(url)
        try:
            yield url
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def migrated_sqlite_url(directory: Path) -> str:
    url = f"sqlite:///{directory / 'switchyard-test.sqlite3'}"
    upgrade(url)
    return url


def empty_all_tables(engine: Engine) -> None:
    """Every table emptied, and the audit checkpoint with them (else the emptied log reads as deleted)."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    checkpoint = engine.get_execution_options().get(AUDIT_TRUST_OPTION)
    if checkpoint is not None:
        checkpoint.checkpoint_path.unlink(missing_ok=True)


def sample_turn(index: int, **overrides: object) -> Turn:
    """A plausible Turn with unique ids derived from ``index`` (tests, benchmarks)."""
    values: dict[str, object] = {
        "trace_id": (index + 1).to_bytes(16, "big"),
        "span_id": (index + 1).to_bytes(8, "big"),
        "start_ns": 1_750_000_000_000_000_000 + index * 1_000_000,
        "end_ns": 1_750_000_000_000_000_000 + index * 1_000_000 + 900_000_000,
        "status_code": 200,
        "session_id": f"session-{index % 7}",
        "developer": f"dev{index % 5}",
        "team": f"team{index % 3}",
        "repo": "switchyard",
        "requested_model": "claude-sonnet-4-5",
        "served_model": "claude-sonnet-4-5",
        "target": "anthropic",
        "rule": "default",
        "input_tokens": 100 + index,
        "output_tokens": 20,
        "cache_creation_tokens": 1000,
        "cache_read_tokens": 5000,
        "tool_use_ids": (f"toolu_{index:04d}",),
        "tool_use_names": ("Bash",),
        "stop_reason": "tool_use",
    }
    values.update(overrides)
    return Turn(**values)  # type: ignore[arg-type]
