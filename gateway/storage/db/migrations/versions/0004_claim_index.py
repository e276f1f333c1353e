"""Claims walk ready rows in id order: index (status, id) instead of (status, next_attempt_at)

Without it PostgreSQL answered "oldest ready rows" by walking the primary key through every
finished row (5 ms per claim at 20,000 rows, growing with history).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inbox_ready", "inbox_events", ["status", "id"])
    op.drop_index("ix_inbox_claim", table_name="inbox_events")
    op.create_index("ix_outbox_ready", "outbound_messages", ["status", "id"])
    op.drop_index("ix_outbox_claim", table_name="outbound_messages")


def downgrade() -> None:
    op.create_index("ix_outbox_claim", "outbound_messages", ["status", "next_attempt_at"])
    op.drop_index("ix_outbox_ready", table_name="outbound_messages")
    op.create_index("ix_inbox_claim", "inbox_events", ["status", "next_attempt_at"])
    op.drop_index("ix_inbox_ready", table_name="inbox_events")
