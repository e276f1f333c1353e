"""Whom a conversation belongs to: a digest of the core `user` its turns were sent as

A turn of a sender whose link changes while the turn waits on the core is written after the
change cleared the sender's conversations; the next turn must still not continue it. The owner
lets that next turn see the conversation is someone else's and start anew. Existing rows have
none (unknown): they go on as before and take the owner of their next turn.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("owner", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("owner")
