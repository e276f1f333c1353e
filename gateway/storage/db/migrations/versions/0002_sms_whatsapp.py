"""SMS and WhatsApp: delivery status of sent messages, opt-outs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivery_error", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("delivery_updated_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_outbox_provider_message", ["provider_message_id"], unique=False)

    op.create_table(
        "opt_outs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column(
            "project_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "channel", "address", name="uq_opt_out"),
    )


def downgrade() -> None:
    op.drop_table("opt_outs")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_provider_message")
        batch_op.drop_column("delivery_updated_at")
        batch_op.drop_column("delivery_error")
        batch_op.drop_column("delivery_status")
