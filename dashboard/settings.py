"""The dashboard's settings, from ``SWITCHYARD_DASHBOARD_*`` environment variables (``DATABASE_URL``
for the database). Built by the caller of ``create_app`` and passed down; never read at import.

Users and their roles live here, as JSON, with password hashes only (``switchyard dashboard
hash-password`` makes one)::

    SWITCHYARD_DASHBOARD_USERS='{"alice": {"password_hash": "scrypt$…", "role": "approver"}}'
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.upstreams import ANTHROPIC_API, Allowlist, allowlist_from_setting


class Role(StrEnum):
    """What a user may do; each role includes the ones before it."""

    viewer = "viewer"  # every page, the chargeback CSV
    approver = "approver"  # + activate a policy version, roll back, approve or reject proposals
    admin = "admin"  # + everything an approver does (and whatever is added for admins later)

    def at_least(self, other: Role) -> bool:
        return _RANK[self] >= _RANK[other]

    @property
    def rank(self) -> int:
        return _RANK[self]


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
    # A sign-in ends this long after it was made (absolute), or after this long without a request (idle).
    session_hours: float = Field(default=12.0, gt=0)
    session_idle_minutes: float = Field(default=60.0, gt=0)
    # Failed sign-ins: this many per user name (and per client address) are free; each further one
    # locks the name (address) for sign_in_backoff_seconds, doubling, up to sign_in_lockout_seconds.
    sign_in_free_failures_per_user: int = Field(default=5, ge=1)
    sign_in_free_failures_per_address: int = Field(default=20, ge=1)
    sign_in_backoff_seconds: float = Field(default=1.0, gt=0)
    sign_in_lockout_seconds: float = Field(default=900.0, gt=0)
    # Password checks run at once (each scrypt check takes 128 MiB); more sign-ins wait their turn.
    password_checks_at_once: int = Field(default=2, ge=1)
    # Threads of the WSGI server (waitress) that serves the dashboard.
    threads: int = Field(default=8, ge=1)
    # The request line and headers together (431 past it), and the time a client has to finish
    # sending them (then the connection closes): a slow client cannot hold a connection open.
    max_header_bytes: int = Field(default=64 * 1024, ge=8 * 1024)
    header_timeout_s: float = Field(default=15.0, gt=0)
    # Send the session cookie over HTTPS only: turn on behind a TLS-terminating proxy.
    cookie_secure: bool = False
    # "Savings" compare each turn's cost with what it would have cost on this model (the top tier).
    baseline_model: str = "claude-opus-4-5"
    # The price table (core/prices.yaml format); None: the one shipped with switchyard.
    prices_file: Path | None = None
    # Finance's team → cost centre mapping (YAML, docs/chargeback.md), read on every chargeback; None: no
    # cost centres. The same setting the CLI's `switchyard export chargeback` reads.
    cost_centres_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("cost_centres_file", "SWITCHYARD_COST_CENTRES_FILE"))
    # The upstream allowlist, the same variables the proxy and ingest read (docs/security.md): a
    # proposal or version whose targets are outside it is refused on approval or activation.
    allowed_upstreams: list[str | dict[str, str | bool]] | None = Field(
        default=None, validation_alias=AliasChoices("allowed_upstreams", "SWITCHYARD_ALLOWED_UPSTREAMS"))
    upstream_url: str = Field(default=ANTHROPIC_API,
                              validation_alias=AliasChoices("upstream_url", "SWITCHYARD_UPSTREAM_URL"))

    # Sign-in through the company's IdP (docs/identity.md#the-dashboard), beside local users: the
    # same SWITCHYARD_OIDC_* settings as Claude Code's /login, the dashboard's own URL (its redirect
    # URI, registered at the IdP, is <public_url>/sso/callback) and the role each IdP group gives
    # ('{"claude-admins": "admin", "platform-leads": "approver", "finance": "viewer"}'; the highest
    # wins; a user with none of them is refused). All three set: the sign-in form offers the IdP.
    public_url: str | None = None
    sso_roles: dict[str, Role] = Field(default_factory=dict)
    oidc_issuer: str | None = Field(default=None, validation_alias=AliasChoices(
        "oidc_issuer", "SWITCHYARD_OIDC_ISSUER"))
    oidc_client_id: str | None = Field(default=None, validation_alias=AliasChoices(
        "oidc_client_id", "SWITCHYARD_OIDC_CLIENT_ID"))
    oidc_client_secret: SecretStr | None = Field(default=None, repr=False, validation_alias=AliasChoices(
        "oidc_client_secret", "SWITCHYARD_OIDC_CLIENT_SECRET"))
    oidc_developer_claim: str = Field(default="email", validation_alias=AliasChoices(
        "oidc_developer_claim", "SWITCHYARD_OIDC_DEVELOPER_CLAIM"))
    oidc_groups_claim: str = Field(default="groups", validation_alias=AliasChoices(
        "oidc_groups_claim", "SWITCHYARD_OIDC_GROUPS_CLAIM"))
    oidc_scopes: str = Field(default="openid email profile", validation_alias=AliasChoices(
        "oidc_scopes", "SWITCHYARD_OIDC_SCOPES"))
    oidc_allowed_email_domains: tuple[str, ...] = Field(default=(), validation_alias=AliasChoices(
        "oidc_allowed_email_domains", "SWITCHYARD_OIDC_ALLOWED_EMAIL_DOMAINS"))
    oidc_allowed_groups: tuple[str, ...] = Field(default=(), validation_alias=AliasChoices(
        "oidc_allowed_groups", "SWITCHYARD_OIDC_ALLOWED_GROUPS"))

    @property
    def sso_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.public_url and self.sso_roles)

    @model_validator(mode="after")
    def _sso_is_complete(self) -> DashboardSettings:
        asked = [name for name, value in (("SWITCHYARD_OIDC_ISSUER", self.oidc_issuer),
                                          ("SWITCHYARD_DASHBOARD_PUBLIC_URL", self.public_url),
                                          ("SWITCHYARD_DASHBOARD_SSO_ROLES", self.sso_roles)) if value]
        if self.public_url or self.sso_roles:  # the dashboard was asked for SSO: all of it, or say what is missing
            missing = [name for name in ("SWITCHYARD_OIDC_ISSUER", "SWITCHYARD_DASHBOARD_PUBLIC_URL",
                                         "SWITCHYARD_DASHBOARD_SSO_ROLES") if name not in asked]
            if self.oidc_issuer and not self.oidc_client_id:
                missing.append("SWITCHYARD_OIDC_CLIENT_ID")
            if missing:
                raise ValueError(f"dashboard sign-in through the IdP needs {', '.join(missing)} too")
            assert self.public_url is not None
            if not self.public_url.startswith(("https://", "http://127.0.0.1", "http://localhost", "http://[::1]")):
                raise ValueError("SWITCHYARD_DASHBOARD_PUBLIC_URL must be https (http only on loopback): the IdP "
                                 "sends the sign-in's code to it")
            if "openid" not in self.oidc_scopes.split():
                raise ValueError("SWITCHYARD_OIDC_SCOPES must include openid")
            self.public_url = self.public_url.rstrip("/")
        return self

    @model_validator(mode="after")
    def _allowlist_is_valid(self) -> DashboardSettings:
        self.allowlist()  # a bad entry stops the dashboard at start, naming the entry
        return self

    def allowlist(self) -> Allowlist:
        return allowlist_from_setting(self.allowed_upstreams, self.upstream_url)
