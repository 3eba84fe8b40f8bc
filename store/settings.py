"""The store's own settings (database timeouts, the audit key), from ``SWITCHYARD_*`` variables.

Every process that opens the database (ingest, the dashboard, the CLI) builds one in its call to
``store.engine.make_engine``, so they all get the same values from the same environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_AUDIT_KEY_CHARS = 32


class StoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHYARD_", extra="ignore")

    # PostgreSQL: how long connecting may take, and any one statement, before it fails (so /readyz and
    # writes answer 503 instead of hanging on a black-holed server). Whole seconds for connect (libpq).
    db_connect_timeout_s: int = Field(default=5, ge=2, le=600)  # libpq counts less than 2 as 2
    db_statement_timeout_s: float = Field(default=30.0, gt=0, le=86400)
    # The HMAC key of the audit chain, kept out of the database. Either the key itself (≥ 32 characters)
    # or a file holding it (mode 0600). Without either, <data dir>/audit.key is used, generated on the
    # first audited change (see docs/security.md).
    audit_key: str | None = Field(default=None, repr=False, min_length=MIN_AUDIT_KEY_CHARS)
    audit_key_file: Path | None = None
