"""The dashboard's settings, from ``SWITCHYARD_DASHBOARD_*`` environment variables (``DATABASE_URL``
for the database). Built by the caller of ``create_app`` and passed down; never read at import.

Users and their roles live here, as JSON, with password hashes only (``switchyard dashboard
hash-password`` makes one)::

    SWITCHYARD_DASHBOARD_USERS='{"alice": {"password_hash": "scrypt$…", "role": "approver"}}'
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Role(StrEnum):
    """What a user may do; each role includes the ones before it."""

    viewer = "viewer"  # every page, the chargeback CSV
    approver = "approver"  # + activate a policy version, roll back, approve or reject proposals
    admin = "admin"  # + everything an approver does (and whatever is added for admins later)

    def at_least(self, other: Role) -> bool:
        return _RANK[self] >= _RANK[other]


_RANK = {Role.viewer: 0, Role.approver: 1, Role.admin: 2}


class User(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    password_hash: str = Field(min_length=1, repr=False)
    role: Role = Role.viewer


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHYARD_DASHBOARD_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("database_url", "DATABASE_URL", "SWITCHYARD_DATABASE_URL"))
    data_dir: Path = Field(default=Path("data"), validation_alias=AliasChoices("data_dir", "SWITCHYARD_DATA_DIR"))
    host: str = "127.0.0.1"
    port: int = Field(default=8050, ge=0, le=65535)
    # Signs the session cookie. Without one, a random key is made at start: sessions then end
    # when the process restarts and several processes cannot share them.
    secret_key: SecretStr | None = Field(default=None, repr=False)
    users: dict[str, User] = Field(default_factory=dict, repr=False)
    session_hours: float = Field(default=12.0, gt=0)
    # Send the session cookie over HTTPS only: turn on behind a TLS-terminating proxy.
    cookie_secure: bool = False
    # "Savings" compare each turn's cost with what it would have cost on this model (the top tier).
    baseline_model: str = "claude-opus-4-5"
    # The price table (core/prices.yaml format); None: the one shipped with switchyard.
    prices_file: Path | None = None
