"""Ingest's settings, from ``SWITCHYARD_*`` environment variables (``DATABASE_URL`` for the database).
Built in ``main()`` / by the caller of ``create_app`` and passed down; never read at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWITCHYARD_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("database_url", "DATABASE_URL", "SWITCHYARD_DATABASE_URL")
    )
    data_dir: Path = Path("data")
    # Own names (not SWITCHYARD_HOST/PORT) so one environment can configure proxy and ingest.
    host: str = Field(default="127.0.0.1", validation_alias="SWITCHYARD_INGEST_HOST")
    port: int = Field(default=4318, ge=0, le=65535,  # the OTLP/HTTP default port
                      validation_alias="SWITCHYARD_INGEST_PORT")
    migrate_on_start: bool = True
    # Request body as received (before gzip) and after decompression: a gzip bomb stops here.
    max_body_bytes: int = Field(default=32 * MIB, gt=0)
    max_decompressed_bytes: int = Field(default=64 * MIB, gt=0)
    # One encoded span or log record larger than this is rejected (the rest of the batch lands).
    max_span_bytes: int = Field(default=1 * MIB, gt=0)
    # Spans without any gen_ai.* attribute are not LLM calls; they are rejected, not stored as turns.
    require_gen_ai: bool = True
    redact: bool = True
    # Turn fields exempt from redaction (e.g. "developer" when developers are named by e-mail).
    redact_keep_fields: frozenset[str] = frozenset()
    # How many rejection reasons the partial_success error_message lists before "and N more".
    max_reported_rejections: int = Field(default=10, ge=1)

    # Who may export OTLP: bearer token → role, as JSON: SWITCHYARD_INGEST_TOKENS='{"<token>": "proxy"}'.
    # "proxy" may write turns (spend) and telemetry; "telemetry" only Claude Code's own logs and metrics.
    # Several tokens per role make a rotation need no downtime. Without any, every export gets 401.
    ingest_tokens: dict[str, str] = Field(default_factory=dict, repr=False)
    # Developers' virtual keys are accepted as telemetry credentials (attributed to the key's developer):
    # the store's keys, and this keys file when set (the one `switchyard keys create` writes).
    keys_file: Path | None = None
    # How long a looked-up key ring is used before the store and the file are read again.
    keys_refresh_s: float = Field(default=5.0, gt=0, le=3600)

    # The control plane (admin API, GET /v1/snapshot). Admin bearer tokens → the actor name the audit
    # log records, as JSON: SWITCHYARD_ADMIN_TOKENS='{"<token>": "alice"}'. Without any, the admin
    # API refuses everyone. Tokens shorter than 16 characters are refused at start (ingest.auth).
    admin_tokens: dict[str, str] = Field(default_factory=dict, repr=False)
    # Tokens the proxies present to GET /v1/snapshot (JSON list); admin tokens are accepted too.
    snapshot_tokens: list[str] = Field(default_factory=list, repr=False)
    # A policy document larger than this is refused (413).
    max_policy_bytes: int = Field(default=1 * MIB, gt=0)
