"""Per-project cap on concurrent core calls per process: NULL is GATEWAY_CORE_CONCURRENCY

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases, not `batch_alter_table`: on SQLite a batch drop_column
# copies `projects` and drops the old table, and with foreign keys on (`gateway.storage.db`)
# that DROP deletes every account, conversation and event of every project (ON DELETE CASCADE).
# SQLite has ALTER TABLE ... DROP COLUMN since 3.35.


def upgrade() -> None:
    op.add_column("projects", sa.Column("core_concurrency", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("projects", "core_concurrency")
