"""keys: the policy groups a virtual key's turns belong to (issue 18)

Revision ID: 0012_key_groups
Revises: 0011_turn_guardrail
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012_key_groups"
down_revision = "0011_turn_guardrail"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Nullable: existing keys have no groups (NULL reads as none), as before. A catalogue change on
    # both dialects, not a rewrite.
    op.add_column("virtual_keys", sa.Column("groups", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("virtual_keys") as batch:
        batch.drop_column("groups")
