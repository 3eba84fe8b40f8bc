"""chargeback: months finance has closed (ingest refuses turns dated inside them)

Revision ID: 0006_closed_months
Revises: 0005_turns_ingestion_order
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_closed_months"
down_revision = "0005_turns_ingestion_order"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closed_months",
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("month", name="pk_closed_months"),
    )


def downgrade() -> None:
    op.drop_table("closed_months")
