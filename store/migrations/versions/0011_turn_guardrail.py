"""turns: what the egress secret guardrail did, and its findings (issue 21)

Revision ID: 0011_turn_guardrail
Revises: 0010_signin
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011_turn_guardrail"
down_revision = "0010_signin"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Nullable: a catalogue change on both dialects, not a rewrite of the turns table; turns stored
    # before it were never scanned. The index serves the Findings page and the block alerts, which
    # read only the turns the guardrail touched (guardrail IS NOT NULL), newest first.
    op.add_column("turns", sa.Column("guardrail", sa.Text(), nullable=True))
    op.add_column("turns", sa.Column("secret_findings", _JSON, nullable=True))
    op.create_index("ix_turns_guardrail_started_at", "turns", ["guardrail", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_turns_guardrail_started_at", table_name="turns")
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("secret_findings")
        batch.drop_column("guardrail")
