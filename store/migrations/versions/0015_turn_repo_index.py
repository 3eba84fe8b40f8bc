"""turns: an index on (repo, started_at) for the dashboard's session search by repo (issue 19)

Revision ID: 0015_turn_repo_index
Revises: 0013_key_fronting_gateway
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0015_turn_repo_index"
down_revision = "0013_key_fronting_gateway"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A search by repo alone walked the newest 50 000 turns of the range and filtered them (3.1 s on
    # PostgreSQL at 1 M turns); with the index it reads only that repo's turns, newest first, like the
    # (developer, started_at) index does for a developer.
    op.create_index("ix_turns_repo_started_at", "turns", ["repo", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_turns_repo_started_at", table_name="turns")
