"""keys: the repos a virtual key may tag; turns: whether their repo was verified

Revision ID: 0007_key_repos
Revises: 0006_closed_months
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_key_repos"
down_revision = "0006_closed_months"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Both nullable: existing keys keep "no list" (any repo, as before) and existing turns say nothing
    # about verification. Adding a nullable column is a catalogue change on both dialects, not a rewrite.
    op.add_column("virtual_keys", sa.Column("repos", _JSON, nullable=True))
    op.add_column("turns", sa.Column("repo_verified", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch:
        batch.drop_column("repo_verified")
    with op.batch_alter_table("virtual_keys") as batch:
        batch.drop_column("repos")
