"""The outbox: every message to a user is a row first, then a provider send."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.messages import ReplyPart
from gateway.storage.db import Database
from gateway.storage.db.models import OutboundMessage, utcnow
from gateway.storage.db.raw import Statements
from gateway.storage.queue import QueueSpec

OUTBOX = QueueSpec(model=OutboundMessage, ready="queued", active="sending")


def rows(
    *,
    project_id: int,
    channel: str,
    account: str,
    chat: str,
    parts: Sequence[str | ReplyPart],
    dedupe_key: str,
    inbox_event_id: int | None = None,
    turn_id: int | None = None,
    options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The rows that queue `parts` in order; `dedupe_key` makes re-queuing them a no-op. A
    rendered part (`ReplyPart`) adds its markup and image to the row's `options`."""
    now = utcnow()
    shared = options or {}
    return [
        {
            "project_id": project_id,
            "channel": channel,
            "account": account,
            "chat": chat,
            "chat_key": f"{channel}:{account}:{chat}",
            "dedupe_key": f"{dedupe_key}:{index}",
            "inbox_event_id": inbox_event_id,
            "turn_id": turn_id,
            "text": part if isinstance(part, str) else part.text,
            "options": shared if isinstance(part, str) else {**shared, **part.options()},
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for index, part in enumerate(parts)
    ]


async def insert(db: Database, st: Statements, queued: list[dict[str, Any]]) -> None:
    """Queue `rows(...)` inside the caller's transaction (one round trip for all of them)."""
    await st.execute_many(_insert_sql(db.is_sqlite), queued)


@cache
def _insert_sql(sqlite: bool) -> Any:
    table = OutboundMessage.__table__
    assert isinstance(table, Table)  # declared as a table (typed as any FromClause)
    insert = sqlite_insert(table) if sqlite else pg_insert(table)
    return insert.on_conflict_do_nothing(index_elements=["dedupe_key"])
