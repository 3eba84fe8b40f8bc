"""Database fixtures shared by tests/store and tests/ingest. Every DB test runs on SQLite and on
PostgreSQL: ``db_url`` is parametrized and module-scoped (one migrated SQLite file / one throwaway
PostgreSQL schema per test module), and ``db_engine`` empties every table before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from store.engine import make_engine
from store.testing import (
    PostgresUnavailableError,
    empty_all_tables,
    migrated_sqlite_url,
    throwaway_postgres_schema,
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        with throwaway_postgres_schema() as url:
            yield url
    except PostgresUnavailableError as error:
        if os.environ.get("SWITCHYARD_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{error} (SWITCHYARD_REQUIRE_SERVICES=1)")
        pytest.skip(str(error))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return migrated_sqlite_url(tmp_path_factory.mktemp("db"))
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    empty_all_tables(engine)
    yield engine
    engine.dispose()
