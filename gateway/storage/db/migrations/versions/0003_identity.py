"""Identity linking: links, one-time codes, failed attempts, allowlist

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _project() -> sa.Column:
    return sa.Column("project_id", _ID, nullable=False)


def _project_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "identity_links",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _project(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=128), nullable=False),
        sa.Column("app_user_id", sa.String(length=256), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_route", sa.String(length=16), nullable=True),
        sa.Column("last_account", sa.String(length=64), nullable=True),
        sa.Column("last_chat", sa.String(length=128), nullable=True),
        sa.Column("last_inbound_at", sa.DateTime(), nullable=True),
        _project_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "channel", "sender", name="uq_identity_link"),
    )
    op.create_index("ix_identity_app_user", "identity_links", ["project_id", "app_user_id"])
    op.create_table(
        "link_codes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _project(),
        sa.Column("app_user_id", sa.String(length=256), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("used_by", sa.String(length=200), nullable=True),
        _project_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_table(
        "link_failures",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _project(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        _project_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_link_failures_sender", "link_failures", ["project_id", "channel", "sender", "at"]
    )
    op.create_table(
        "allowlist",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        _project(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _project_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "channel", "sender", name="uq_allowlist"),
    )


def downgrade() -> None:
    op.drop_table("allowlist")
    op.drop_index("ix_link_failures_sender", table_name="link_failures")
    op.drop_table("link_failures")
    op.drop_table("link_codes")
    op.drop_index("ix_identity_app_user", table_name="identity_links")
    op.drop_table("identity_links")
