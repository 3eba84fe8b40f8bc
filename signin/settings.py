"""Sign-in settings: ``SWITCHYARD_OIDC_*`` (the company's IdP), ``SWITCHYARD_PUBLIC_URL`` (the base URL
developers ``/login`` to) and ``SWITCHYARD_SIGNIN_*`` (tokens, keys, limits). Off until
``SWITCHYARD_OIDC_ISSUER`` is set."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def url_problem(name: str, url: str) -> str | None:
    """Why ``url`` cannot be used: https is required, http only on loopback (development)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{name} must be an http(s) URL, not {url!r}"
    if parts.query or parts.fragment:
        return f"{name} must not have a query or fragment"
    if parts.scheme == "http":
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return f"{name} must be https (http only for a loopback address, in development)"
    return None


class SigninSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHYARD_", env_file=".env", extra="ignore",
                                      populate_by_name=True)

    # The company's IdP (its discovery document is at <issuer>/.well-known/openid-configuration).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    # None: a public client (PKCE only). From the environment only; never logged.
    oidc_client_secret: SecretStr | None = Field(default=None, repr=False)
    # The ID token claim that names the developer (budgets, reports) and the one that lists groups.
    oidc_developer_claim: str = "email"
    oidc_groups_claim: str = "groups"
    # offline_access: the IdP's refresh token lets each refresh ask the IdP whether the developer is
    # still there. Okta needs "groups" added for its groups claim.
    oidc_scopes: str = "openid email profile offline_access"
    # Who may sign in at all (empty: everyone the IdP vouches for; Google, for one, vouches for any
    # account): a verified email in one of these domains, and membership of one of these groups.
    oidc_allowed_email_domains: tuple[str, ...] = ()
    oidc_allowed_groups: tuple[str, ...] = ()
    # The base URL developers /login to (also the issuer and audience of the tokens signed here).
    public_url: str | None = None

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("database_url", "DATABASE_URL", "SWITCHYARD_DATABASE_URL"))
    data_dir: Path = Path("data")
    # The signing keys (mode 600; created on first start). Default: <data_dir>/signin-keys.json.
    signin_keys_file: Path | None = None
    signin_key_alg: str = Field(default="ES256", pattern="^(ES256|RS256)$")
    # A new signing key this often (0: never); the old one verifies until its tokens have expired.
    signin_key_rotation_days: float = Field(default=30.0, ge=0)
    # Bearer tokens live this long; Claude Code refreshes them before they expire.
    signin_token_ttl_s: int = Field(default=3600, ge=60, le=86400)
    # The longest one sign-in lasts through refreshes (then /login again).
    signin_session_hours: float = Field(default=168.0, gt=0, le=24 * 90)
    signin_device_code_ttl_s: int = Field(default=600, ge=60, le=1800)
    signin_poll_interval_s: int = Field(default=5, ge=1, le=60)
    # Per client IP: device codes asked for, and verification-page submissions (RFC 8628 §5.1).
    signin_device_rate_per_minute: int = Field(default=10, ge=1, le=10_000)
    signin_verify_rate_per_minute: int = Field(default=10, ge=1, le=10_000)

    @property
    def enabled(self) -> bool:
        return self.oidc_issuer is not None

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> SigninSettings:
        if not self.enabled:
            return self
        missing = [name for name, value in (("SWITCHYARD_OIDC_CLIENT_ID", self.oidc_client_id),
                                            ("SWITCHYARD_PUBLIC_URL", self.public_url)) if not value]
        if missing:
            raise ValueError(f"SWITCHYARD_OIDC_ISSUER is set, so {' and '.join(missing)} must be too")
        assert self.oidc_issuer is not None and self.public_url is not None
        for name, url in (("SWITCHYARD_OIDC_ISSUER", self.oidc_issuer), ("SWITCHYARD_PUBLIC_URL", self.public_url)):
            problem = url_problem(name, url)
            if problem is not None:
                raise ValueError(problem)
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("SWITCHYARD_OIDC_SCOPES must include openid")
        self.public_url = self.public_url.rstrip("/")
        return self

    @property
    def keys_file(self) -> Path:
        return self.signin_keys_file or self.data_dir / "signin-keys.json"

    @property
    def base(self) -> str:
        assert self.public_url is not None
        return self.public_url
