"""Running ingest as a process: ``main()`` (settings from the environment, migrate, serve) and
``app_from_env()``, a factory for ``uvicorn --factory ingest.main:app_from_env``."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from ingest.app import create_app
from ingest.settings import IngestSettings
from store.engine import make_engine
from store.migrate import upgrade


def _engine(settings: IngestSettings) -> Engine:
    engine = make_engine(settings.database_url, data_dir=settings.data_dir)
    if settings.migrate_on_start:
        upgrade(engine)
    return engine


def app_from_env() -> FastAPI:
    """For process managers that import a factory; the engine lives as long as the process."""
    settings = IngestSettings()
    return create_app(settings, _engine(settings))


def main(settings: IngestSettings | None = None) -> None:
    settings = settings or IngestSettings()
    engine = _engine(settings)
    try:
        uvicorn.run(create_app(settings, engine), host=settings.host, port=settings.port, log_level="info")
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
