"""sign-in: device-flow grants, refresh tokens (hashed) and bearer revocations (issue 18)

Revision ID: 0010_signin
Revises: 0009_turn_provider
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010_signin"
down_revision = "0009_turn_provider"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "signin_device_grants",
        sa.Column("device_code_hash", sa.String(64), nullable=False),
        sa.Column("user_code", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("last_poll_at", sa.DateTime(), nullable=True),
        sa.Column("client_ip", sa.Text(), nullable=True),
        sa.Column("surface", sa.String(64), nullable=True),
        sa.Column("box", sa.LargeBinary(), nullable=False),
        sa.Column("login_state_hash", sa.String(64), nullable=True),
        sa.Column("login_nonce", sa.Text(), nullable=True),
        sa.Column("login_verifier", sa.Text(), nullable=True),
        sa.Column("browser_hash", sa.String(64), nullable=True),
        sa.Column("approval_hash", sa.String(64), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("developer", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("groups", _JSON, nullable=True),
        sa.Column("idp_refresh_sealed", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("device_code_hash", name="pk_signin_device_grants"),
        sa.UniqueConstraint("user_code", name="uq_signin_device_grants_user_code"),
        sa.UniqueConstraint("login_state_hash", name="uq_signin_device_grants_login_state_hash"),
    )
    op.create_index("ix_signin_device_grants_expires_at", "signin_device_grants", ["expires_at"])
    op.create_table(
        "signin_refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("session_ends_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("developer", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("groups", _JSON, nullable=False),
        sa.Column("idp_refresh_sealed", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_signin_refresh_tokens"),
    )
    op.create_index("ix_signin_refresh_tokens_sid", "signin_refresh_tokens", ["sid"])
    op.create_index("ix_signin_refresh_tokens_session_ends_at", "signin_refresh_tokens", ["session_ends_at"])
    op.create_table(
        "signin_revocations",
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.Column("forget_after", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("token_id", name="pk_signin_revocations"),
    )
    op.create_index("ix_signin_revocations_forget_after", "signin_revocations", ["forget_after"])


def downgrade() -> None:
    op.drop_table("signin_revocations")
    op.drop_table("signin_refresh_tokens")
    op.drop_table("signin_device_grants")
