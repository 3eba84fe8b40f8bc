"""evals: per-turn scores, the eval runner's watermark, failure clusters and their members

Revision ID: 0003_evals
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_evals"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Money = sa.Numeric(18, 9)


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("evaluator", sa.String(64), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("session_id", sa.Text()),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "span_id", "evaluator", "version", name="pk_scores"),
    )
    op.create_index("ix_scores_session_id", "scores", ["session_id"])
    op.create_index("ix_scores_started_at", "scores", ["started_at"])
    op.create_index("ix_scores_evaluator_value", "scores", ["evaluator", "value"])
    op.create_table(
        "eval_watermarks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_eval_watermarks"),
    )
    op.create_table(
        "failure_clusters",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("cost_usd", Money, nullable=False),
        sa.Column("trend", sa.String(16), nullable=False),
        sa.Column("window_counts", Json, nullable=False),
        sa.Column("features", Json, nullable=False),
        sa.Column("examples", Json, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "cluster", name="pk_failure_clusters"),
    )
    op.create_index("ix_failure_clusters_created_at", "failure_clusters", ["created_at"])
    op.create_table(
        "failure_cluster_members",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("cluster", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "trace_id", "span_id", name="pk_failure_cluster_members"),
    )


def downgrade() -> None:
    op.drop_table("failure_cluster_members")
    op.drop_index("ix_failure_clusters_created_at", table_name="failure_clusters")
    op.drop_table("failure_clusters")
    op.drop_table("eval_watermarks")
    op.drop_index("ix_scores_evaluator_value", table_name="scores")
    op.drop_index("ix_scores_started_at", table_name="scores")
    op.drop_index("ix_scores_session_id", table_name="scores")
    op.drop_table("scores")
