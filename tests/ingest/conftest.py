from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from ingest.app import create_app
from ingest.settings import IngestSettings
from store.engine import make_engine
from tests.loopback import serve_in_thread
from tests.store.databases import db_engine, db_url, postgres_url

__all__ = ["db_engine", "db_url", "postgres_url"]

INGESTED_AT = datetime(2025, 7, 1, 9, 30)
# Ingest's export credentials in these tests: the client fixture sends the proxy's by default.
PROXY_TOKEN = "proxy-token-for-the-ingest-tests-0123"
TELEMETRY_TOKEN = "telemetry-token-for-the-ingest-tests-0123"
INGEST_TOKENS = {PROXY_TOKEN: "proxy", TELEMETRY_TOKEN: "telemetry"}
PROXY_AUTH = {"authorization": f"Bearer {PROXY_TOKEN}"}


@pytest.fixture(scope="module")
def settings(db_url: str) -> IngestSettings:
    # explicit values: the developer's own SWITCHYARD_* environment must not change the tests
    return IngestSettings(database_url=db_url, max_body_bytes=32 * 2**20, max_decompressed_bytes=64 * 2**20,
                          max_span_bytes=2**20, require_gen_ai=True, redact=True, ingest_tokens=INGEST_TOKENS,
                          keys_file=None)


@pytest.fixture(scope="module")
def app_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(settings: IngestSettings, app_engine: Engine) -> FastAPI:
    return create_app(settings, app_engine, clock=lambda: INGESTED_AT)


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    """The app under a real uvicorn on loopback (a thread)."""
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture
def client(base_url: str, db_engine: Engine) -> Iterator[httpx.Client]:
    """A client of the module's server, sending the proxy token; depending on db_engine empties the
    tables first."""
    with httpx.Client(base_url=base_url, timeout=30, headers=PROXY_AUTH) as http:
        yield http
