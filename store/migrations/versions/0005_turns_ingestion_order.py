"""evals: an index for reading turns in ingestion order (the eval runner's keyset pages)

Revision ID: 0005_turns_ingestion_order
Revises: 0004_policy_proposals
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0005_turns_ingestion_order"
down_revision = "0004_policy_proposals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_turns_ingested_at_trace_id_span_id", "turns", ["ingested_at", "trace_id", "span_id"])


def downgrade() -> None:
    op.drop_index("ix_turns_ingested_at_trace_id_span_id", table_name="turns")
