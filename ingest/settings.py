"""Ingest's settings, from ``SWITCHYARD_*`` environment variables (``DATABASE_URL`` for the database).
Built in ``main()`` / by the caller of ``create_app`` and passed down; never read at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.upstreams import ANTHROPIC_API, Allowlist, allowlist_from_setting

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
    # The request line and headers together, and how many headers (431 past either); the time a
    # client has to finish sending them (408, then the connection closes). Same names as the proxy's.
    max_header_bytes: int = Field(default=64 * 1024, ge=8 * 1024)
    max_header_count: int = Field(default=100, ge=32)
    header_timeout_s: float = Field(default=15.0, gt=0)
    max_decompressed_bytes: int = Field(default=64 * MIB, gt=0)
    # One encoded span or log record larger than this is rejected (the rest of the batch lands).
    max_span_bytes: int = Field(default=1 * MIB, gt=0)
    # Spans without any gen_ai.* attribute are not LLM calls; they are rejected, not stored as turns.
    require_gen_ai: bool = True
    redact: bool = True
    # Turn fields exempt from redaction. "developer" by default: it is the gateway's own name for the
    # caller (a key's record or the verified /login identity, by default an e-mail address), which
    # budgets and chargeback group by; redacted, every e-mail-named developer would be one
    # "[REDACTED:email]". '[]' redacts it too (for a store that must hold no e-mail address).
    redact_keep_fields: frozenset[str] = frozenset({"developer"})
    # How many rejection reasons the partial_success error_message lists before "and N more".
    max_reported_rejections: int = Field(default=10, ge=1)

    # Who may export OTLP: bearer token → role, as JSON: SWITCHYARD_INGEST_TOKENS='{"<token>": "proxy"}'.
    # "proxy" may write turns (spend) and telemetry; "telemetry" only Claude Code's own logs and metrics.
    # Several tokens per role make a rotation need no downtime. Without any, every export gets 401.
    ingest_tokens: dict[str, str] = Field(default_factory=dict, repr=False)
    # Developers' virtual keys are accepted as telemetry credentials (attributed to the key's developer):
    # the store's keys, and this keys file when set (the one `switchyard keys create` writes).
    keys_file: Path | None = None
    # How long what ingest read of the virtual keys and the closed months is used before it reads them again.
    lookup_refresh_s: float = Field(default=5.0, gt=0, le=3600)

    # Bounds on the turns ingest stores; a turn outside them is rejected (partial_success, with the reason).
    # A turn must start within the retention window and at most max_clock_skew_s in the future.
    retention_days: float = Field(default=90, gt=0, le=3660)
    max_clock_skew_s: float = Field(default=300, ge=0, le=86400)
    max_turn_duration_s: float = Field(default=86400, gt=0, le=7 * 86400)
    # Per token field (input, output, cache write, cache read): the largest context plus output a model allows.
    max_tokens_per_field: int = Field(default=2_000_000, gt=0, le=10**9)
    # The smallest routing propensity accepted: 1/min_propensity is the largest weight one turn gets in a replay.
    min_propensity: float = Field(default=1e-4, gt=0, le=1)
    # Developer, team, repo, session, model, … ids.
    max_identity_chars: int = Field(default=256, ge=16, le=4096)

    # The control plane (admin API, GET /v1/snapshot). Admin bearer tokens → the actor name the audit
    # log records, as JSON: SWITCHYARD_ADMIN_TOKENS='{"<token>": "alice"}'. Without any, the admin
    # API refuses everyone. Tokens shorter than 16 characters are refused at start (ingest.auth).
    admin_tokens: dict[str, str] = Field(default_factory=dict, repr=False)
    # Tokens the proxies present to GET /v1/snapshot (JSON list); admin tokens are accepted too.
    snapshot_tokens: list[str] = Field(default_factory=list, repr=False)
    # A wrong admin or snapshot token is audited as admin.token_refused at most once per this many seconds
    # (with the number refused since the last entry), so guessing cannot fill the audit log.
    refused_token_audit_interval_s: float = Field(default=60.0, gt=0, le=86400)
    # A policy document larger than this is refused (413).
    max_policy_bytes: int = Field(default=1 * MIB, gt=0)
    # The upstream allowlist, as the proxy reads it (docs/security.md): a policy whose targets are
    # outside it is refused when stored, activated or approved (422 naming the target). Unset: the
    # proxy's SWITCHYARD_UPSTREAM_URL (read here only for this default) and https://api.anthropic.com.
    allowed_upstreams: list[str | dict[str, str | bool]] | None = None
    upstream_url: str = ANTHROPIC_API

    @model_validator(mode="after")
    def _allowlist_is_valid(self) -> IngestSettings:
        self.allowlist()  # a bad entry stops ingest at start, naming the entry
        return self

    def allowlist(self) -> Allowlist:
        return allowlist_from_setting(self.allowed_upstreams, self.upstream_url)
