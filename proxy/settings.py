"""The proxy's settings: environment variables prefixed ``SWITCHYARD_`` (or a .env file)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.upstreams import Allowlist, allowlist_from_setting


class ProxySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWITCHYARD_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # Own names (not SWITCHYARD_HOST/PORT) so one environment can configure proxy and ingest.
    host: str = Field(default="127.0.0.1", validation_alias="SWITCHYARD_PROXY_HOST")
    port: int = Field(default=4000, validation_alias="SWITCHYARD_PROXY_PORT")

    # Where turns go when no policy routes them elsewhere.
    upstream_url: str = "https://api.anthropic.com"
    # The provider key: from the environment only (SWITCHYARD_UPSTREAM_API_KEY or ANTHROPIC_API_KEY),
    # or from a file readable by the owner only. Never logged, never put in a span.
    upstream_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SWITCHYARD_UPSTREAM_API_KEY", "ANTHROPIC_API_KEY")
    )
    upstream_api_key_file: Path | None = None
    # "x-api-key" (Anthropic) or "bearer" (Authorization: Bearer, e.g. for other gateways).
    upstream_auth: str = "x-api-key"
    # Further provider keys by the name policy targets use (`provider_key: eu`), as JSON:
    # SWITCHYARD_PROVIDER_KEYS='{"eu": "sk-ant-…"}'. The upstream key above is "default".
    provider_keys: dict[str, SecretStr] = {}
    # The only hosts provider keys are sent to (JSON list of base URLs; docs/security.md): a policy
    # target outside it is refused when the policy loads, and again before a key is attached.
    # Unset: upstream_url and https://api.anthropic.com. https only, except loopback (development).
    # {"url": "https://…", "private": true} lets a name resolve to private addresses (a VPC endpoint).
    allowed_upstreams: list[str | dict[str, str | bool]] | None = None

    # The routing policy: a YAML file, watched and hot-reloaded. Without it (and without a
    # snapshot) every turn goes to upstream_url.
    policy_file: Path | None = None
    # ingest's snapshot endpoint (policy, key hashes, budget balances), polled with an ETag.
    snapshot_url: str | None = None
    snapshot_token: SecretStr | None = None
    snapshot_interval_s: float = 2.0
    # Redis shared by all proxies for budget spend (e.g. redis://127.0.0.1:6379/0). None: per-process.
    redis_url: str | None = None
    # Longest a Redis call may take (connect, read, the whole call; no retries). Past it the turn
    # goes on with this proxy's own view of spend (fail open), counted on /metrics.
    redis_timeout_s: float = Field(default=0.05, gt=0, le=5)
    # Budgets hold turns in flight: each reserves its worst-case cost at admission (see
    # docs/policy.md, "Budgets under concurrency"), never more than this cap, which is also the
    # most a hard budget can be overshot by.
    budget_reservation_cap_usd: Decimal = Field(default=Decimal("2"), gt=0, allow_inf_nan=False)
    # A reservation on Redis whose proxy died mid-turn is dropped after this long; keep it above
    # the longest turn (a reservation that outlives it only stops counting early).
    budget_reservation_ttl_s: float = Field(default=1800.0, gt=0)

    # Virtual keys: a JSON file written by `switchyard keys create` (hashes only).
    keys_file: Path = Path("data/keys.json")
    # Forward the developer's own Anthropic key instead of requiring a virtual key.
    passthrough: bool = False

    # OTLP/HTTP traces endpoint of ingest, e.g. http://127.0.0.1:4318/v1/traces. None: no export.
    otlp_endpoint: str | None = None
    # Sent as `Authorization: Bearer <token>` on every export (ingest's SWITCHYARD_INGEST_TOKENS,
    # role "proxy"). From the environment only; never logged.
    otlp_token: SecretStr | None = Field(default=None, repr=False)
    # Finished turns whose spans are kept in memory for export; the rest wait on disk in the journal.
    export_queue_size: int = Field(default=10_000, gt=0)
    export_batch_size: int = Field(default=512, gt=0)
    export_interval_s: float = Field(default=1.0, gt=0)
    export_timeout_s: float = Field(default=5.0, gt=0)
    # One encoded span never exceeds this: its largest values are cut (with a marker) to fit.
    # Matches ingest's per-item limit (its SWITCHYARD_MAX_SPAN_BYTES); keep it no larger.
    max_span_bytes: int = Field(default=1024 * 1024, ge=4096)
    # The turn journal (one directory per proxy process): every turn that starts and finishes is
    # written here (fsync'd every 100 ms) until ingest has it; replayed after a crash. Refused spans
    # go to its dead-letters/ folder. None: turns wait in memory only (lost if the process dies).
    spool_dir: Path | None = Path("data/spool")
    # The journal's cap; past it the oldest undelivered turns are dropped (and counted).
    spool_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)

    connect_timeout_s: float = 10.0
    # Longest silence tolerated between two upstream bytes (Claude Code itself gives up after 5 min).
    read_timeout_s: float = 600.0
    # The proxy's own SSE ping after this much silence from a provider that sends none (Bedrock):
    # Claude Code drops a gateway connection after 300 s without a byte.
    provider_ping_s: float = Field(10.0, gt=0, le=250)
    max_body_bytes: int = 64 * 1024 * 1024
    # Claude Code's own OTLP telemetry on the base URL (/v1/metrics|logs|traces): body limit (413 above).
    telemetry_max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    # The request line and headers together, and how many headers (431 past either); the time a
    # client has to finish sending them (408, then the connection closes). Claude Code sends ~3 KB
    # in ~25 headers.
    max_header_bytes: int = Field(default=64 * 1024, ge=8 * 1024)
    max_header_count: int = Field(default=100, ge=32)
    header_timeout_s: float = Field(default=15.0, gt=0)
    # Admission control per upstream target: requests in flight, and waiting beyond that (then 529).
    max_in_flight_per_target: int = 2048
    max_queued_per_target: int = 2048
    # How often the keys file is checked for changes.
    reload_interval_s: float = 1.0

    # The egress secret guardrail (docs/guardrails.md); what it does for whom is the policy's
    # `guardrails:` block. The key of findings' fingerprints (HMAC-SHA256): set it alike on every
    # proxy of a fleet, so one secret has one fingerprint everywhere and the policy's allow-list
    # matches on all; unset, each process draws its own (fingerprints correlate within it only).
    # From the environment only, never logged, never in a policy or a span.
    guardrail_salt: SecretStr | None = Field(default=None, repr=False)
    # When the scanner fails, or a block is too large to scan: "open" forwards the request (counted,
    # recorded on the turn), "closed" refuses it.
    guardrail_on_failure: Literal["open", "closed"] = "open"
    # A text block longer than this is not scanned (RE2 takes ~10 ms per MiB).
    guardrail_max_block_chars: int = Field(default=2 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # A request with more new text than this is scanned on a worker thread, so one huge request
    # never holds the event loop (and every other stream) for its whole scan.
    guardrail_thread_chars: int = Field(default=256 * 1024, ge=0)
    # The per-session memory of blocks already scanned (core/secrets/seen.py): ~180 bytes a block.
    guardrail_max_sessions: int = Field(default=256, ge=1, le=100_000)
    guardrail_max_blocks_per_session: int = Field(default=1024, ge=1, le=100_000)
    log_level: str = "info"

    @model_validator(mode="after")
    def _allowlist_is_valid(self) -> ProxySettings:
        self.allowlist()  # a bad entry stops the proxy at start, naming the entry
        if self.guardrail_salt is not None and len(self.guardrail_salt.get_secret_value().encode()) < 16:
            raise ValueError("SWITCHYARD_GUARDRAIL_SALT must be at least 16 bytes")
        return self

    def allowlist(self) -> Allowlist:
        return allowlist_from_setting(self.allowed_upstreams, self.upstream_url)

    def all_provider_keys(self) -> dict[str, str]:
        keys = {name: secret.get_secret_value() for name, secret in self.provider_keys.items()}
        default = self.provider_key()
        if default is not None:
            keys["default"] = default
        return keys

    def provider_key(self) -> str | None:
        """The upstream key, read from the environment or from its file (refused if others can read it)."""
        if self.upstream_api_key is not None:
            return self.upstream_api_key.get_secret_value()
        if self.upstream_api_key_file is None:
            return None
        mode = self.upstream_api_key_file.stat().st_mode
        if mode & 0o077:
            raise PermissionError(
                f"{self.upstream_api_key_file} is readable by group or others; chmod 600 it"
            )
        return self.upstream_api_key_file.read_text().strip()
