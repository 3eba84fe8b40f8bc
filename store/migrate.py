"""Run the Alembic migrations from code: ``upgrade(engine_or_url)``.

The migration scripts live inside the package (store/migrations), so this works from an installed
wheel and needs no alembic.ini. ``alembic_config`` is exposed for the autogenerate tooling.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from store.engine import make_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine_or_url: Engine | str | URL, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest). Safe to call on every start."""
    _run(engine_or_url, lambda config: command.upgrade(config, revision))


def downgrade(engine_or_url: Engine | str | URL, revision: str) -> None:
    _run(engine_or_url, lambda config: command.downgrade(config, revision))


def _run(engine_or_url: Engine | str | URL, action: object) -> None:
    owned = not isinstance(engine_or_url, Engine)
    engine = make_engine(engine_or_url) if owned else engine_or_url  # type: ignore[arg-type]
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Processes starting at once on one database (two ingests) would both create the
                # tables and the second would fail; this lock (per schema, held until commit) makes
                # the second wait, then find the schema already at head.
                connection.execute(text(
                    "SELECT pg_advisory_xact_lock(hashtext('switchyard-migrate:' || coalesce(current_schema(), '')))"))
            config = alembic_config()
            config.attributes["connection"] = connection
            action(config)  # type: ignore[operator]
    finally:
        if owned:
            engine.dispose()
