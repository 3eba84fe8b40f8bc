"""Engine factory: a SQLite file (WAL) by default, PostgreSQL when the URL says so.

Nothing here runs at import time; callers build an engine in their composition root and pass it on.
The engine carries what the audit log needs from outside the database (``store.audit_trust``) as an
execution option, so every audited change made through it is keyed and checkpointed the same way.
PostgreSQL connections get a connect and a statement timeout; the SQLite file (and so its WAL and
shared-memory files, which SQLite creates with the database's mode) is 0600 in a 0700 directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from store.audit_trust import CHECKPOINT_FILENAME, AuditTrust
from store.private_files import narrow_for_others, private_file
from store.settings import StoreSettings

DEFAULT_DATA_DIR = Path("data")
SQLITE_FILENAME = "switchyard.sqlite3"
# How long a SQLite writer waits for another writer's lock before failing (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 10_000
# The execution option under which the engine carries its AuditTrust (read by store.audit).
AUDIT_TRUST_OPTION = "switchyard_audit_trust"


def default_database_url(data_dir: Path = DEFAULT_DATA_DIR) -> str:
    return f"sqlite:///{(data_dir / SQLITE_FILENAME).resolve()}"


def make_engine(
    url: str | URL | None = None, *, data_dir: Path = DEFAULT_DATA_DIR, echo: bool = False,
    settings: StoreSettings | None = None,
) -> Engine:
    """An engine for ``url`` (e.g. from ``DATABASE_URL``); without one, a SQLite file in ``data_dir``.

    ``postgresql://`` URLs are pointed at psycopg 3, the driver the project ships with. ``settings``
    defaults to the ``SWITCHYARD_*`` environment (``StoreSettings``).
    """
    settings = settings if settings is not None else StoreSettings()
    parsed = make_url(url) if url else make_url(default_database_url(data_dir))
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    sqlite_file = _sqlite_file(parsed)
    trust = AuditTrust(directory=sqlite_file.parent if sqlite_file is not None else data_dir,
                       key=settings.audit_key, key_file=settings.audit_key_file,
                       checkpoint_name=CHECKPOINT_FILENAME if sqlite_file is not None else _checkpoint_name(parsed))
    options = {AUDIT_TRUST_OPTION: trust}
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, sqlite_file, echo=echo, options=options)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        # libpq's options string: keep what the URL sets (e.g. a search_path) and add the timeout.
        timeout = f"-c statement_timeout={round(settings.db_statement_timeout_s * 1000)}"
        given = parsed.query.get("options")
        given_text = " ".join(given) if isinstance(given, tuple) else given
        parsed = parsed.difference_update_query(["options"])
        connect_args = {"connect_timeout": settings.db_connect_timeout_s,
                        "options": f"{given_text} {timeout}" if given_text else timeout}
    return create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect_args,
                         execution_options=options)


def _checkpoint_name(url: URL) -> str:
    """The audit checkpoint's file name for a server database: named after where the database is
    (host, port, database and options such as a search_path; never the password)."""
    where = url.render_as_string(hide_password=True).split("@", 1)[-1]
    return f"audit-{hashlib.sha256(where.encode()).hexdigest()[:12]}.checkpoint"


def _sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _sqlite_engine(url: URL, path: Path | None, *, echo: bool, options: dict[str, Any]) -> Engine:
    if path is not None:
        private_file(path)  # before SQLite creates it with the umask's mode; WAL and SHM copy its mode
        for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if companion.exists():
                narrow_for_others(companion)
    engine = create_engine(url, echo=echo, execution_options=options)
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
