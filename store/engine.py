"""Engine factory: a SQLite file (WAL) by default, PostgreSQL when the URL says so.

Nothing here runs at import time; callers build an engine in their composition root and pass it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

DEFAULT_DATA_DIR = Path("data")
SQLITE_FILENAME = "switchyard.sqlite3"
# How long a SQLite writer waits for another writer's lock before failing (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 10_000


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{(data_dir / SQLITE_FILENAME).resolve()}"


def make_engine(
    url: str | URL | None = None, *, data_dir: Path = DEFAULT_DATA_DIR, echo: bool = False
) -> Engine:
    """An engine for ``url`` (e.g. from ``DATABASE_URL``); without one, a SQLite file in ``data_dir``.

    ``postgresql://`` URLs are pointed at psycopg 3, the driver the project ships with.
    """
    parsed = make_url(url) if url else make_url(default_database_url(data_dir))
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo)
    event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (dashboard) run while ingest writes; NORMAL sync is durable across app
    # crashes in WAL mode and much faster than FULL.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
