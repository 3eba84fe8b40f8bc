"""The database schema: turns (one row per LLM call), Claude Code's own log events, hourly rollups,
and the control plane (policy versions, the active-policy pointer, virtual keys, the audit log).

SQLAlchemy Core tables, shared by the migrations (which must match them: a test compares the two),
the writer and the read queries. Times are naive UTC datetimes on both SQLite and PostgreSQL.
Ids are lowercase hex strings (trace 32 chars, span 16), list fields are JSON arrays.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB

# Named constraints so migrations and both dialects agree on names.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
Json = JSON().with_variant(JSONB(), "postgresql")
# Enough for $1e9 at nano-dollar precision: per-turn costs are fractions of a cent.
Money = Numeric(18, 9)

turns = Table(
    "turns",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("started_at", DateTime(), nullable=False, index=True),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("method", String(16), nullable=False),
    Column("path", Text, nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("session_id", Text, index=True),
    Column("developer", Text),
    Column("team", Text),
    Column("repo", Text),
    Column("cli_version", Text),
    Column("agent_id", Text),
    Column("parent_agent_id", Text),
    Column("request_class", Text),
    Column("agent_type", Text),
    Column("prompt_id", Text),
    Column("requested_model", Text),
    Column("served_model", Text),
    Column("response_id", Text),
    Column("upstream_request_id", Text),
    Column("target", Text),
    Column("region", Text),
    Column("provider", Text),
    Column("server_address", Text),
    Column("policy_version", Text),
    Column("rule", Text),
    Column("propensity", Float),
    Column("fallback_hops", Json, nullable=False),
    Column("dropped_capabilities", Json),  # nullable: added by 0009 without rewriting old rows
    Column("estimated_input_tokens", BigInteger),
    Column("tool_count", Integer),
    Column("thinking", Boolean),
    Column("stream", Boolean),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cache_creation_tokens", BigInteger, nullable=False),
    Column("cache_read_tokens", BigInteger, nullable=False),
    Column("cache_creation_1h_tokens", BigInteger, nullable=False),
    Column("ttfb_ms", Float),
    Column("stop_reason", Text),
    Column("error_type", Text),
    Column("error_message", Text),
    Column("tool_use_ids", Json, nullable=False),
    Column("tool_use_names", Json, nullable=False),
    Column("tool_result_ids", Json, nullable=False),
    Column("tool_result_error_ids", Json, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("cost_usd", Money, nullable=False),
    Column("priced", Boolean, nullable=False),
    Column("price_id", Text),
    Column("cost_exact", Boolean, nullable=False),
    Column("cost_note", Text),
    Column("ingested_at", DateTime(), nullable=False),
    # whether the developer's key vouched for `repo` (core.keys.claim_repo); NULL for turns stored before 0007
    Column("repo_verified", Boolean),
    # the egress secret guardrail (issue 21, added by 0011): what it did, and its findings (never the
    # secret); NULL when it found nothing, so the Findings page reads only the turns it touched
    Column("guardrail", Text),
    Column("secret_findings", Json),
)

# Claude Code's own telemetry events (CLAUDE_CODE_ENABLE_TELEMETRY=1), joined to turns by session id.
# record_hash (sha256 of the encoded record and its resource) makes a re-sent batch a no-op.
logs = Table(
    "logs",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("record_hash", String(64), nullable=False, unique=True),
    Column("session_id", Text, index=True),
    Column("event_name", Text, index=True),
    Column("timestamp", DateTime(), nullable=False, index=True),
    Column("time_ns", BigInteger, nullable=False),
    Column("severity", Text),
    Column("body", Text),
    # Claude Code's tool_result events carry success="true"/"false"; parsed once at ingest.
    Column("success", Boolean),
    Column("trace_id", String(32)),
    Column("span_id", String(16)),
    Column("attributes", Json, nullable=False),
    Column("ingested_at", DateTime(), nullable=False),
)

# The grouping of the hourly rollup. NULLs would defeat the primary key, so "unknown" is stored
# as the empty string; the read queries turn it back into null.
ROLLUP_KEYS: tuple[str, ...] = ("hour", "developer", "team", "repo", "model", "target", "rule")
ROLLUP_SUMS: tuple[str, ...] = (
    "requests",
    "errors",
    "unpriced",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "cost_usd",
)

rollup_hourly = Table(
    "rollup_hourly",
    metadata,
    Column("hour", DateTime(), primary_key=True),
    Column("developer", Text, primary_key=True),
    Column("team", Text, primary_key=True),
    Column("repo", Text, primary_key=True),
    Column("model", Text, primary_key=True),
    Column("target", Text, primary_key=True),
    Column("rule", Text, primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("unpriced", BigInteger, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False),
    Column("cache_read_tokens", BigInteger, nullable=False),
    Column("cost_usd", Money, nullable=False),
)

Index("ix_turns_developer_started_at", turns.c.developer, turns.c.started_at)
Index("ix_turns_team_started_at", turns.c.team, turns.c.started_at)
Index("ix_turns_repo_started_at", turns.c.repo, turns.c.started_at)  # the session search by repo
# The Findings page and the alert on blocks read the few turns the guardrail touched, by time.
Index("ix_turns_guardrail_started_at", turns.c.guardrail, turns.c.started_at)

# --- control plane -------------------------------------------------------------------------------
# Policy versions are immutable documents (the policy as a JSON dict, defaults included, so a
# version means the same thing whatever this code's defaults become).
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("version", String(128), primary_key=True),
    Column("parent", String(128)),
    Column("document", Json, nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("note", Text),
)

# The one active-policy pointer: a single row (id 1), replaced by activate/rollback.
policy_state = Table(
    "policy_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("active_version", String(128),
           ForeignKey("policy_versions.version", name="fk_policy_state_active_version"), nullable=False),
    Column("activated_at", DateTime(), nullable=False),
    Column("activated_by", Text, nullable=False),
    CheckConstraint("id = 1", name="ck_policy_state_single_row"),
)

# Virtual keys: core.keys.KeyRecord fields, never the plaintext.
virtual_keys = Table(
    "virtual_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("salt", String(64), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("developer", Text, nullable=False),
    Column("team", Text),
    Column("created_at", DateTime(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("rate_limit_rpm", Integer),
    Column("revoked_at", DateTime()),
    Column("revoked_by", Text),
    # the repos its requests may tag (a JSON array; ["*"]: any); NULL: no list, any repo, unverified
    Column("repos", Json),
    # a fronting gateway's key: it may name the developer in x-claude-gateway-user-* (core/fronting.py)
    Column("fronting_gateway", Boolean, nullable=False, server_default=false()),
    # the policy groups of its turns (a JSON array of names); NULL: none (core.keys.KeyRecord.groups)
    Column("groups", Json),
)

# Months finance has closed: their chargeback is final, so ingest refuses turns dated inside them.
# Reopening one (an admin, audited) deletes its row.
closed_months = Table(
    "closed_months",
    metadata,
    Column("month", String(7), primary_key=True),  # YYYY-MM, UTC
    Column("closed_at", DateTime(), nullable=False),
    Column("closed_by", Text, nullable=False),
)

# Append-only, hash-chained: hash = sha256(prev_hash + canonical JSON of the entry). seq is
# assigned by the writer (previous + 1) and prev_hash is unique, so two concurrent appends cannot
# both extend the same entry: one fails and retries (see store.audit).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False),
    Column("at", DateTime(), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", Text, nullable=False, index=True),
    Column("detail", Json, nullable=False),
    Column("prev_hash", String(64), nullable=False, unique=True),
    Column("hash", String(64), nullable=False),
)

# --- evals ---------------------------------------------------------------------------------------
# One score per (turn, evaluator, evaluator version): re-running never duplicates, and a new
# version of an evaluator scores every turn again next to the old version's scores.
scores = Table(
    "scores",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("evaluator", String(64), primary_key=True),
    Column("version", String(32), primary_key=True),
    Column("value", Float, nullable=False),
    Column("label", Text, nullable=False),
    Column("reason", Text),
    Column("session_id", Text, index=True),
    Column("started_at", DateTime(), nullable=False, index=True),
    Column("scored_at", DateTime(), nullable=False),
)
Index("ix_scores_evaluator_value", scores.c.evaluator, scores.c.value)
# The eval runner reads turns in ingestion order from a watermark (keyset pages): without this,
# every page would sort the whole turns table.
Index("ix_turns_ingested_at_trace_id_span_id", turns.c.ingested_at, turns.c.trace_id, turns.c.span_id)

# How far the incremental eval runner got (turns ingested before this time are scored or final).
eval_watermarks = Table(
    "eval_watermarks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("ingested_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
)

# One clustering run of low-scoring turns: each cluster a named failure mode with its size, the
# cost it burned, its trend over windows, its dominant features (JSON object) and example turns.
failure_clusters = Table(
    "failure_clusters",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("cluster", Integer, primary_key=True, autoincrement=False),
    Column("created_at", DateTime(), nullable=False, index=True),
    Column("window_start", DateTime(), nullable=False),
    Column("window_end", DateTime(), nullable=False),
    Column("name", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("cost_usd", Money, nullable=False),
    Column("trend", String(16), nullable=False),
    Column("window_counts", Json, nullable=False),
    Column("features", Json, nullable=False),
    Column("examples", Json, nullable=False),
)

failure_cluster_members = Table(
    "failure_cluster_members",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("cluster", Integer, nullable=False),
)

# --- optimizer -----------------------------------------------------------------------------------
# A proposed policy change: the candidate document, its diff against the parent (PolicyDiff.to_dict)
# and the optimizer's evidence; status proposed → approved | rejected (activation is policies').
policy_proposals = Table(
    "policy_proposals",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("parent_version", String(128), nullable=False),
    Column("candidate_version", String(128), nullable=False),
    Column("document", Json, nullable=False),
    Column("diff", Json, nullable=False),
    Column("evidence", Json, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("created_at", DateTime(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("decided_at", DateTime()),
    Column("decided_by", Text),
    Column("note", Text),
)

# --- alerts --------------------------------------------------------------------------------------
# The dedup keys of alerts already announced (core.alerts.Alert.key): a key is claimed (inserted)
# before its alert is sent, so each crossing, proposal or rollback is announced once, across restarts
# and by one of several jobs processes. Episode keys (a rate over its threshold, a rising cluster)
# are deleted when the episode ends, so the next one is announced again.
alerts_sent = Table(
    "alerts_sent",
    metadata,
    Column("key", Text, primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("claimed_at", DateTime(), nullable=False),
)

# --- sign-in (Claude Code's /login through the company's IdP; core.identity) ----------------------
# A device-flow grant, from Claude Code's request for a code until its tokens are handed out (or it
# expires). Secrets are never stored: the device code and the sign-in state as their SHA-256, the
# IdP's refresh token sealed to a key only the device code opens (core.identity.sealed).
signin_device_grants = Table(
    "signin_device_grants",
    metadata,
    Column("device_code_hash", String(64), primary_key=True),
    Column("user_code", String(16), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("expires_at", DateTime(), nullable=False, index=True),
    Column("interval_s", Integer, nullable=False),
    Column("last_poll_at", DateTime()),
    Column("client_ip", Text),
    Column("surface", String(64)),
    Column("box", LargeBinary, nullable=False),
    # the browser's sign-in at the IdP: state (hash), nonce, PKCE verifier, the browser's cookie (hash)
    Column("login_state_hash", String(64), unique=True),
    Column("login_nonce", Text),
    Column("login_verifier", Text),
    Column("browser_hash", String(64)),
    Column("approval_hash", String(64)),
    # who signed in (core.identity.claims.Identity), once they have
    Column("subject", Text),
    Column("developer", Text),
    Column("email", Text),
    Column("groups", Json),
    Column("idp_refresh_sealed", LargeBinary),
)

# Refresh tokens (as their SHA-256), one family per sign-in (sid): each is used once, then "rotated".
signin_refresh_tokens = Table(
    "signin_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("sid", String(64), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("session_ends_at", DateTime(), nullable=False, index=True),
    Column("used_at", DateTime()),
    Column("subject", Text, nullable=False),
    Column("developer", Text, nullable=False),
    Column("email", Text),
    Column("groups", Json, nullable=False),
    Column("idp_refresh_sealed", LargeBinary),
)

# Bearer tokens refused before they expire: one token (its jti) or a whole sign-in (its sid). Proxies
# load the live ones; a row is forgotten once nothing it names can still verify.
signin_revocations = Table(
    "signin_revocations",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("revoked_at", DateTime(), nullable=False),
    Column("forget_after", DateTime(), nullable=False, index=True),
    Column("reason", Text, nullable=False),
)
