"""Approvals, their lifecycle webhook deliveries, and per-project approval settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch_op:
        batch_op.add_column(sa.Column("approval_webhook_url", sa.String(1024), nullable=True))
        batch_op.add_column(
            sa.Column("approval_webhook_secret_encrypted", sa.Text(), nullable=True)
        )
        batch_op.add_column(sa.Column("approval_ttl_seconds", sa.Integer(), nullable=True))
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("app_user_id", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("server_label", sa.String(200), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("input_summary", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("short_code", sa.String(8), nullable=False),
        sa.Column("core_request_id", sa.String(128), nullable=True),
        sa.Column("response_id", sa.String(128), nullable=True),
        sa.Column("turn_id", _ID, nullable=True),
        sa.Column("inbox_event_id", _ID, nullable=True),
        sa.Column("route", sa.String(16), nullable=True),
        sa.Column("account", sa.String(64), nullable=True),
        sa.Column("chat", sa.String(128), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("context", _JSON, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decision_source", sa.String(16), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["turn_id"], ["turns.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["inbox_event_id"], ["inbox_events.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_approvals_due", "approvals", ["status", "expires_at"])
    op.create_index("ix_approvals_user", "approvals", ["project_id", "app_user_id", "status"])
    op.create_index("ix_approvals_response", "approvals", ["project_id", "response_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("approval_id", sa.String(40), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("chat_key", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_webhook_ready", "webhook_deliveries", ["status", "id"])
    op.create_index("ix_webhook_order", "webhook_deliveries", ["chat_key", "id"])
    op.create_index("ix_webhook_deliveries_approval_id", "webhook_deliveries", ["approval_id"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("approvals")
    with op.batch_alter_table("projects") as batch_op:
        batch_op.drop_column("approval_ttl_seconds")
        batch_op.drop_column("approval_webhook_secret_encrypted")
        batch_op.drop_column("approval_webhook_url")
