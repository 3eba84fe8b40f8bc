"""Running ingest as a process: ``main()`` (settings from the environment, migrate, serve) and
``app_from_env()``, a factory for ``uvicorn --factory ingest.main:app_from_env``."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from ingest.app import create_app
from ingest.settings import IngestSettings
from serving.guarded_http import HeaderLimits, guarded_protocol
from store.engine import make_engine
from store.migrate import upgrade


def _engine(settings: IngestSettings) -> Engine:
    engine = make_engine(settings.database_url, data_dir=settings.data_dir)
    if settings.migrate_on_start:
        upgrade(engine)
    return engine


def app_from_env() -> FastAPI:
    """For process managers that import a factory; the engine lives as long as the process. Such a
    manager runs its own HTTP layer: the header limits of ``main()`` are not applied."""
    settings = IngestSettings()
    return create_app(settings, _engine(settings))


def main(settings: IngestSettings | None = None) -> None:
    settings = settings or IngestSettings()
    engine = _engine(settings)
    try:
        # httptools with limits on the headers' size, count and arrival time (serving/guarded_http.py)
        limits = HeaderLimits(settings.max_header_bytes, settings.max_header_count, settings.header_timeout_s)
        uvicorn.run(create_app(settings, engine), host=settings.host, port=settings.port, log_level="info",
                    http=guarded_protocol(limits))
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
