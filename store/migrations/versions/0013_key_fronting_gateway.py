"""virtual_keys: a key may be a fronting gateway's (it may name the developer; issue 18, item 6)

Revision ID: 0013_key_fronting_gateway
Revises: 0012_key_groups
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_key_fronting_gateway"
# 0012 is another branch's; when both are merged, this one revises it instead.
down_revision = "0012_key_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not null with a server default: every existing key is an ordinary one (it may not name another
    # developer), which is what it always was.
    op.add_column("virtual_keys", sa.Column("fronting_gateway", sa.Boolean(), nullable=False,
                                            server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("virtual_keys") as batch:
        batch.drop_column("fronting_gateway")
