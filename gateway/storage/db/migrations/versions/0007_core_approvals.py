"""Core-owned approvals: the core's project id, admin key and event secret per project, the
core's approval id on an approval, its decision's delivery to the core, and seen core events;
the unguessable path token of each project's usage-signal route

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch_op:
        batch_op.add_column(sa.Column("genaug_project_id", sa.String(128), nullable=True))
        batch_op.add_column(sa.Column("genaug_admin_key_encrypted", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("genaug_webhook_secret_encrypted", sa.Text(), nullable=True))
    with op.batch_alter_table("projects") as batch_op:
        batch_op.add_column(sa.Column("usage_path_token", sa.String(64), nullable=True))
    projects = sa.table("projects", sa.column("id", sa.Integer), sa.column("usage_path_token"))
    conn = op.get_bind()
    for (project_id,) in conn.execute(sa.select(projects.c.id)).all():
        conn.execute(
            projects.update()
            .where(projects.c.id == project_id)
            .values(usage_path_token=secrets.token_urlsafe(24))
        )
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.add_column(sa.Column("core_approval_id", sa.String(128), nullable=True))
        batch_op.add_column(sa.Column("core_sync", sa.String(16), nullable=True))
        batch_op.add_column(sa.Column("core_sync_attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("core_sync_next_at", sa.DateTime(), nullable=True))
        batch_op.create_index(
            "ix_approvals_core_id", ["project_id", "core_approval_id"], unique=True
        )
        batch_op.create_index("ix_approvals_core_sync", ["core_sync", "core_sync_next_at"])
    op.create_table(
        "core_events",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("project_id", _ID, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "event_id", name="uq_core_events_event"),
    )


def downgrade() -> None:
    op.drop_table("core_events")
    with op.batch_alter_table("approvals") as batch_op:
        batch_op.drop_index("ix_approvals_core_sync")
        batch_op.drop_index("ix_approvals_core_id")
        batch_op.drop_column("core_sync_next_at")
        batch_op.drop_column("core_sync_attempts")
        batch_op.drop_column("core_sync")
        batch_op.drop_column("core_approval_id")
    with op.batch_alter_table("projects") as batch_op:
        batch_op.drop_column("usage_path_token")
        batch_op.drop_column("genaug_webhook_secret_encrypted")
        batch_op.drop_column("genaug_admin_key_encrypted")
        batch_op.drop_column("genaug_project_id")
