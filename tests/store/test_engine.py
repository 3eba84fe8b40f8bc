from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ingest.app import create_app
from ingest.settings import IngestSettings
from store.engine import default_database_url, make_engine
from store.settings import StoreSettings
from tests.loopback import serve_in_thread


def test_default_is_a_sqlite_file_in_the_data_dir_with_wal_and_busy_timeout(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "data"
    engine = make_engine(None, data_dir=data_dir)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 10_000
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert (data_dir / "switchyard.sqlite3").exists()
        assert default_database_url(data_dir).startswith("sqlite:///")
    finally:
        engine.dispose()


def test_plain_postgresql_urls_use_psycopg3() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/test")
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


@contextmanager
def black_hole() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield server.getsockname()[1]


def test_a_black_holed_postgresql_fails_fast_instead_of_hanging(tmp_path: Path) -> None:
    with black_hole() as port:
        engine = make_engine(f"postgresql://nobody@127.0.0.1:{port}/db", data_dir=tmp_path,
                             settings=StoreSettings(db_connect_timeout_s=2))
        try:
            with pytest.raises(OperationalError, match="timeout"), engine.connect():
                pass
        finally:
            engine.dispose()


def test_readyz_answers_503_on_a_black_holed_postgresql(tmp_path: Path) -> None:
    with black_hole() as port:
        url = f"postgresql://nobody@127.0.0.1:{port}/db"
        engine = make_engine(url, data_dir=tmp_path, settings=StoreSettings(db_connect_timeout_s=2))
        try:
            app = create_app(IngestSettings(database_url=url, data_dir=tmp_path), engine)
            with serve_in_thread(app) as base:
                response = httpx.get(f"{base}/readyz", timeout=60)
        finally:
            engine.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


@pytest.mark.postgres
def test_postgresql_statements_time_out_and_the_urls_own_options_stay(postgres_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgres_url, data_dir=tmp_path, settings=StoreSettings(db_statement_timeout_s=0.2))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "200ms"
            assert str(connection.execute(text("SHOW search_path")).scalar()).startswith("sy_")
        with pytest.raises(OperationalError, match="statement timeout"), engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()


def test_the_sqlite_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    old = os.umask(0o022)
    try:
        engine = make_engine(None, data_dir=data_dir, settings=StoreSettings())
        try:
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE t (x INTEGER)"))
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data_dir.iterdir()}
        finally:
            engine.dispose()
    finally:
        os.umask(old)
    assert modes == {"switchyard.sqlite3": 0o600, "switchyard.sqlite3-wal": 0o600, "switchyard.sqlite3-shm": 0o600}
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_an_existing_world_readable_database_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o664)
    make_engine(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o660  # others lose access; the group's is a choice
