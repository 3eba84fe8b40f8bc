"""turns, logs and the hourly rollup

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Money = sa.Numeric(18, 9)


def upgrade() -> None:
    op.create_table(
        "turns",
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Text()),
        sa.Column("developer", sa.Text()),
        sa.Column("team", sa.Text()),
        sa.Column("repo", sa.Text()),
        sa.Column("cli_version", sa.Text()),
        sa.Column("agent_id", sa.Text()),
        sa.Column("parent_agent_id", sa.Text()),
        sa.Column("request_class", sa.Text()),
        sa.Column("agent_type", sa.Text()),
        sa.Column("prompt_id", sa.Text()),
        sa.Column("requested_model", sa.Text()),
        sa.Column("served_model", sa.Text()),
        sa.Column("response_id", sa.Text()),
        sa.Column("upstream_request_id", sa.Text()),
        sa.Column("target", sa.Text()),
        sa.Column("region", sa.Text()),
        sa.Column("server_address", sa.Text()),
        sa.Column("policy_version", sa.Text()),
        sa.Column("rule", sa.Text()),
        sa.Column("propensity", sa.Float()),
        sa.Column("fallback_hops", Json, nullable=False),
        sa.Column("estimated_input_tokens", sa.BigInteger()),
        sa.Column("tool_count", sa.Integer()),
        sa.Column("thinking", sa.Boolean()),
        sa.Column("stream", sa.Boolean()),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_creation_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_creation_1h_tokens", sa.BigInteger(), nullable=False),
        sa.Column("ttfb_ms", sa.Float()),
        sa.Column("stop_reason", sa.Text()),
        sa.Column("error_type", sa.Text()),
        sa.Column("error_message", sa.Text()),
        sa.Column("tool_use_ids", Json, nullable=False),
        sa.Column("tool_use_names", Json, nullable=False),
        sa.Column("tool_result_ids", Json, nullable=False),
        sa.Column("tool_result_error_ids", Json, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("cost_usd", Money, nullable=False),
        sa.Column("priced", sa.Boolean(), nullable=False),
        sa.Column("price_id", sa.Text()),
        sa.Column("cost_exact", sa.Boolean(), nullable=False),
        sa.Column("cost_note", sa.Text()),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name="pk_turns"),
    )
    op.create_index("ix_turns_started_at", "turns", ["started_at"])
    op.create_index("ix_turns_session_id", "turns", ["session_id"])
    op.create_index("ix_turns_developer_started_at", "turns", ["developer", "started_at"])
    op.create_index("ix_turns_team_started_at", "turns", ["team", "started_at"])

    op.create_table(
        "logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Text()),
        sa.Column("event_name", sa.Text()),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("severity", sa.Text()),
        sa.Column("body", sa.Text()),
        sa.Column("success", sa.Boolean()),
        sa.Column("trace_id", sa.String(32)),
        sa.Column("span_id", sa.String(16)),
        sa.Column("attributes", Json, nullable=False),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_logs"),
        sa.UniqueConstraint("record_hash", name="uq_logs_record_hash"),
    )
    op.create_index("ix_logs_session_id", "logs", ["session_id"])
    op.create_index("ix_logs_event_name", "logs", ["event_name"])
    op.create_index("ix_logs_timestamp", "logs", ["timestamp"])

    op.create_table(
        "rollup_hourly",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("developer", sa.Text(), nullable=False),
        sa.Column("team", sa.Text(), nullable=False),
        sa.Column("repo", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("unpriced", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", Money, nullable=False),
        sa.PrimaryKeyConstraint("hour", "developer", "team", "repo", "model", "target", "rule",
                                name="pk_rollup_hourly"),
    )


def downgrade() -> None:
    op.drop_table("rollup_hourly")
    op.drop_index("ix_logs_timestamp", table_name="logs")
    op.drop_index("ix_logs_event_name", table_name="logs")
    op.drop_index("ix_logs_session_id", table_name="logs")
    op.drop_table("logs")
    op.drop_index("ix_turns_team_started_at", table_name="turns")
    op.drop_index("ix_turns_developer_started_at", table_name="turns")
    op.drop_index("ix_turns_session_id", table_name="turns")
    op.drop_index("ix_turns_started_at", table_name="turns")
    op.drop_table("turns")
