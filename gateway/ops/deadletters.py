"""Dead letters: what could not be delivered or processed, with the reason, and putting it back.

Nothing is dropped silently: an outbound message that a provider refused (`failed`) or that ran
out of retries (`dead`), and an inbound event whose processing gave up (`failed`), stay in their
tables with `last_error`. An operator lists them and, once the cause is fixed, requeues them:
the worker picks them up like new work (same dedupe and idempotency keys, so nothing is doubled).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from channels.capabilities import mask_address
from gateway.storage.db import Database
from gateway.storage.db.models import InboxEvent, OutboundMessage, Project, utcnow

OUTBOX_DEAD = ("failed", "dead")
INBOX_DEAD = ("failed",)


async def list_outbox(
    db: Database,
    statuses: Sequence[str] = OUTBOX_DEAD,
    project: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    query = (
        select(OutboundMessage, Project.name)
        .join(Project)
        .where(OutboundMessage.status.in_(statuses))
    )
    if project is not None:
        query = query.where(Project.name == project)
    async with db.session() as session:
        rows = await session.execute(query.order_by(OutboundMessage.id.desc()).limit(limit))
        return [
            {
                "id": row.id,
                "project": name,
                "channel": row.channel,
                "chat": mask_address(row.channel, row.chat),
                "status": row.status,
                "attempts": row.attempts,
                "reason": row.last_error,
                "created_at": row.created_at.isoformat(),
            }
            for row, name in rows.all()
        ]


async def list_inbox(
    db: Database, statuses: Sequence[str] = INBOX_DEAD, project: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    query = select(InboxEvent, Project.name).join(Project).where(InboxEvent.status.in_(statuses))
    if project is not None:
        query = query.where(Project.name == project)
    async with db.session() as session:
        rows = await session.execute(query.order_by(InboxEvent.id.desc()).limit(limit))
        return [
            {
                "id": row.id,
                "project": name,
                "channel": row.channel,
                "event_id": row.event_id,
                "kind": row.kind,
                "status": row.status,
                "attempts": row.attempts,
                "reason": row.last_error,
                "received_at": row.received_at.isoformat(),
            }
            for row, name in rows.all()
        ]


async def retry_outbox(db: Database, ids: Sequence[int] | None) -> int:
    """Requeue failed/dead messages (`ids` None: all of them); returns how many."""
    return await _requeue(db, OutboundMessage, "queued", OUTBOX_DEAD, ids)


async def replay_inbox(db: Database, ids: Sequence[int] | None) -> int:
    """Process failed inbound events again (`ids` None: all of them); returns how many."""
    return await _requeue(db, InboxEvent, "pending", INBOX_DEAD, ids)


async def _requeue(
    db: Database, model: Any, ready: str, dead: Sequence[str], ids: Sequence[int] | None
) -> int:
    stmt = update(model).where(model.status.in_(dead))
    if ids is not None:
        stmt = stmt.where(model.id.in_(list(ids)))
    stmt = stmt.values(
        status=ready, attempts=0, next_attempt_at=utcnow(), claimed_by=None, lease_until=None
    )
    async with db.engine.begin() as conn:
        return int((await conn.execute(stmt)).rowcount or 0)
