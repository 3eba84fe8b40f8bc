from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from store.engine import default_database_url, make_engine


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
