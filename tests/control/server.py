"""Ingest with its control plane, served on loopback for the control-plane tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from ingest.app import create_app
from ingest.settings import IngestSettings
from tests.loopback import serve_in_thread

ADMIN_TOKEN = "admin-token-alice-0123456789"
OTHER_ADMIN_TOKEN = "admin-token-bob-0123456789"
SNAPSHOT_TOKEN = "snapshot-token-0123456789"


@dataclass
class SettableClock:
    """The app's clock; tests move it (e.g. to another month)."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 15, 12, 0))

    def __call__(self) -> datetime:
        return self.now


def control_settings(db_url: str, allowed_upstreams: list[str] | None = None) -> IngestSettings:
    # explicit values: the developer's own SWITCHYARD_* environment must not change the tests
    return IngestSettings(database_url=db_url, admin_tokens={ADMIN_TOKEN: "alice", OTHER_ADMIN_TOKEN: "bob"},
                          snapshot_tokens=[SNAPSHOT_TOKEN], max_policy_bytes=64 * 1024,
                          upstream_url="https://api.anthropic.com", allowed_upstreams=allowed_upstreams)


@contextmanager
def serve_ingest(db_url: str, engine: Engine, clock: Callable[[], datetime] | None = None,
                 allowed_upstreams: list[str] | None = None) -> Iterator[str]:
    app = create_app(control_settings(db_url, allowed_upstreams), engine, clock=clock or SettableClock())
    with serve_in_thread(app) as url:
        yield url
