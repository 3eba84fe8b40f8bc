from collections.abc import Iterator

import pytest

from store.engine import make_engine
from tests.control.server import SettableClock, serve_ingest
from tests.store.databases import db_engine, db_url, postgres_url

__all__ = ["db_engine", "db_url", "postgres_url"]


@pytest.fixture(scope="module")
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture(scope="module")
def base_url(db_url: str, clock: SettableClock) -> Iterator[str]:
    """Ingest (with the control plane) under uvicorn on loopback, one per test module."""
    engine = make_engine(db_url)
    with serve_ingest(db_url, engine, clock) as url:
        yield url
    engine.dispose()
