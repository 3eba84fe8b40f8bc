"""optimizer: policy proposals (candidate document, diff, evidence, review status)

Revision ID: 0004_policy_proposals
Revises: 0003_evals
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_policy_proposals"
down_revision = "0003_evals"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "policy_proposals",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("parent_version", sa.String(128), nullable=False),
        sa.Column("candidate_version", sa.String(128), nullable=False),
        sa.Column("document", Json, nullable=False),
        sa.Column("diff", Json, nullable=False),
        sa.Column("evidence", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime()),
        sa.Column("decided_by", sa.Text()),
        sa.Column("note", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_policy_proposals"),
    )
    op.create_index("ix_policy_proposals_status", "policy_proposals", ["status"])


def downgrade() -> None:
    op.drop_index("ix_policy_proposals_status", table_name="policy_proposals")
    op.drop_table("policy_proposals")
