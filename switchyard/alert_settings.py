"""Alert settings (``SWITCHYARD_ALERT_*``, ``SWITCHYARD_DASHBOARD_URL``), read by the loop jobs
(`switchyard jobs`, `switchyard up`) and `switchyard alerts test`. See docs/alerts.md."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.alerts import KINDS

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class WebhookChannel(BaseModel):
    """One entry of ``SWITCHYARD_ALERT_WEBHOOKS``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = Field(description="a Slack webhook URL holds its secret in its path: never shown")
    kind: Literal["generic", "slack"] = "generic"
    secret: SecretStr | None = Field(default=None, description="HMAC key of x-switchyard-signature (generic)")
    events: tuple[str, ...] = ("*",)
    name: str | None = Field(default=None, max_length=64, description="shown in logs and metrics")

    @field_validator("url")
    @classmethod
    def _https(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError("url must be https (http only for loopback)")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        families = {kind.split(".", 1)[0] for kind in KINDS}
        unknown = [e for e in value if e != "*" and e not in KINDS and e not in families]
        if unknown:
            raise ValueError(f"unknown events {unknown}: use *, a kind ({', '.join(KINDS)}) or a family "
                             f"({', '.join(sorted(families))})")
        return value

    @model_validator(mode="after")
    def _generic_is_signed(self) -> WebhookChannel:
        if self.kind == "generic" and (self.secret is None or len(self.secret.get_secret_value()) < 16):
            raise ValueError("a generic webhook needs a secret of at least 16 characters (it signs every post)")
        return self

    @property
    def label(self) -> str:
        """What logs, metrics and `alerts test` call the channel: its name, or kind and host (never
        the path, where Slack keeps the webhook's secret)."""
        return self.name or f"{self.kind}:{urlsplit(self.url.get_secret_value()).hostname}"


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHYARD_ALERT_", extra="ignore", populate_by_name=True)

    webhooks: list[WebhookChannel] = Field(default_factory=list, repr=False)
    dashboard_url: str | None = Field(default=None, validation_alias=AliasChoices(
        "dashboard_url", "SWITCHYARD_DASHBOARD_URL"))
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=4, ge=0, le=10)
    backoff_s: float = Field(default=1.0, gt=0, le=60)
    queue_size: int = Field(default=1000, ge=1, le=100_000)
    error_rate: float = Field(default=0.2, gt=0, le=1)
    fallback_rate: float = Field(default=0.2, gt=0, le=1)
    rate_minutes: float = Field(default=10.0, gt=0, le=1440)
    rate_min_turns: int = Field(default=20, ge=1)
    # An egress proxy for the posts (the environment's HTTPS_PROXY is not read: the posts bypass the
    # httpx client, which logs URLs); e.g. http://proxy.internal:3128
    https_proxy: str | None = Field(default=None, repr=False)
    proxy_metrics_urls: list[str] = Field(default_factory=list)
    spool_pending: int = Field(default=1000, ge=1)

    @field_validator("proxy_metrics_urls")
    @classmethod
    def _metrics_urls(cls, value: list[str]) -> list[str]:
        bad = [url for url in value if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname]
        if bad:
            raise ValueError(f"SWITCHYARD_ALERT_PROXY_METRICS_URLS must hold http(s) URLs, not {bad}")
        return value

    @field_validator("https_proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("SWITCHYARD_ALERT_HTTPS_PROXY must be an http(s) URL")
        return value or None

    @field_validator("dashboard_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("SWITCHYARD_DASHBOARD_URL must be an http(s) URL")
        return value or None
