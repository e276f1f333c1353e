"""The outbox: every message to a user is a row first, then a provider send."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import Database
from gateway.db.models import OutboundMessage, utcnow
from gateway.queue import QueueSpec

OUTBOX = QueueSpec(model=OutboundMessage, ready="queued", active="sending")


async def enqueue(
    db: Database,
    conn: AsyncConnection,
    *,
    project_id: int,
    channel: str,
    account: str,
    chat: str,
    parts: list[str],
    dedupe_key: str,
    inbox_event_id: int | None = None,
    turn_id: int | None = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Queue `parts` in order. Re-running the same step enqueues nothing twice (`dedupe_key`)."""
    rows = [
        {
            "project_id": project_id,
            "channel": channel,
            "account": account,
            "chat": chat,
            "chat_key": f"{channel}:{account}:{chat}",
            "dedupe_key": f"{dedupe_key}:{index}",
            "inbox_event_id": inbox_event_id,
            "turn_id": turn_id,
            "text": text,
            "options": options or {},
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": utcnow(),
            "created_at": utcnow(),
        }
        for index, text in enumerate(parts)
    ]
    if rows:
        await conn.execute(_insert_sql(db.is_sqlite), rows)


@cache
def _insert_sql(sqlite: bool) -> Any:
    table = OutboundMessage.__table__
    insert = sqlite_insert(table) if sqlite else pg_insert(table)
    return insert.on_conflict_do_nothing(index_elements=["dedupe_key"])
