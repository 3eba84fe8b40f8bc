"""turns: the provider that served each turn, and the capabilities left out for it

Revision ID: 0009_turn_provider
Revises: 0008_alerts_sent
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_turn_provider"
down_revision = "0008_alerts_sent"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Both nullable: a catalogue change on both dialects, not a rewrite of the turns table; old turns
    # were all served by Anthropic-compatible targets and left nothing out.
    op.add_column("turns", sa.Column("provider", sa.Text(), nullable=True))
    op.add_column("turns", sa.Column("dropped_capabilities", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("dropped_capabilities")
        batch.drop_column("provider")
