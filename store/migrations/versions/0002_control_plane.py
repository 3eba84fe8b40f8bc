"""control plane: policy versions, the active-policy pointer, virtual keys, the audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("parent", sa.String(128)),
        sa.Column("document", Json, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.PrimaryKeyConstraint("version", name="pk_policy_versions"),
    )
    op.create_table(
        "policy_state",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("active_version", sa.String(128), nullable=False),
        sa.Column("activated_at", sa.DateTime(), nullable=False),
        sa.Column("activated_by", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy_state"),
        sa.ForeignKeyConstraint(["active_version"], ["policy_versions.version"],
                                name="fk_policy_state_active_version"),
        sa.CheckConstraint("id = 1", name="ck_policy_state_single_row"),
    )
    op.create_table(
        "virtual_keys",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("developer", sa.Text(), nullable=False),
        sa.Column("team", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("rate_limit_rpm", sa.Integer()),
        sa.Column("revoked_at", sa.DateTime()),
        sa.Column("revoked_by", sa.Text()),
        sa.PrimaryKeyConstraint("key_id", name="pk_virtual_keys"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, autoincrement=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("detail", Json, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
    )
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("virtual_keys")
    op.drop_table("policy_state")
    op.drop_table("policy_versions")
