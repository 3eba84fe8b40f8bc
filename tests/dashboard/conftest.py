"""Fixtures of the dashboard tests: the store fixtures (every database test runs on SQLite and on
PostgreSQL), users with real password hashes, and a dashboard served on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from dashboard.app import create_app
from dashboard.passwords import hash_password
from dashboard.settings import DashboardSettings, Role, User
from tests.dashboard.serving import serve_wsgi
from tests.store.databases import db_engine, db_url, postgres_url

__all__ = ["db_engine", "db_url", "postgres_url"]

PASSWORDS = {"alice": "alice-approves", "victor": "victor-views", "ada": "ada-admin"}
ROLES = {"alice": Role.approver, "victor": Role.viewer, "ada": Role.admin}


@pytest.fixture(scope="session")
def settings() -> DashboardSettings:
    # pbkdf2 with few iterations would be faster, but the test signs in with what production uses
    users = {name: User(password_hash=hash_password(password), role=ROLES[name])
             for name, password in PASSWORDS.items()}
    # the fleet's policies route to Anthropic and to a second (made-up) region: the operator lists both
    return DashboardSettings(secret_key="test-secret-key-0123456789abcdef", users=users,
                             allowed_upstreams=["https://api.anthropic.com", "https://eu.example.com"])


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@pytest.fixture
def served(settings: DashboardSettings, db_engine: Engine) -> Iterator[str]:
    """The dashboard on ``db_engine`` at a loopback URL."""
    with serve_wsgi(create_app(settings, db_engine).server) as url:
        yield url
