"""The core's contract: conversation ids, per-project threading, feature and opaque-user salt,
and the core's machine-readable reason on each turn

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch_op:
        batch_op.add_column(sa.Column("threading", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("feature", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("user_salt", sa.String(64), nullable=True))
    projects = sa.table("projects", sa.column("id", sa.Integer), sa.column("user_salt"))
    conn = op.get_bind()
    for (project_id,) in conn.execute(sa.select(projects.c.id)).all():
        conn.execute(
            projects.update()
            .where(projects.c.id == project_id)
            .values(user_salt=secrets.token_hex(16))
        )
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("conversation_id", sa.String(64), nullable=True))
    with op.batch_alter_table("turns") as batch_op:
        batch_op.add_column(sa.Column("conversation", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns") as batch_op:
        batch_op.drop_column("reason")
        batch_op.drop_column("conversation")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("conversation_id")
    with op.batch_alter_table("projects") as batch_op:
        batch_op.drop_column("user_salt")
        batch_op.drop_column("feature")
        batch_op.drop_column("threading")
