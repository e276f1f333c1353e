"""The waiting parts of an album: Telegram delivers each photo or video of a media group as an
update of its own, all sharing `media_group_id`. The worker holding the album's first part reads
the parts queued behind it (`waiting_parts`) and, when the turn is written, settles them with it
(`absorb`), so the album is one message to the agent and one answer to the user.

The parts queue behind the first in the chat's order (one chat, one row at a time), so no other
worker can claim them while the first is held; `absorb` is still fenced on `pending`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from gateway.storage.db import Database
from gateway.storage.db.models import InboxEvent
from gateway.storage.db.raw import Statements
from gateway.storage.inbox import INBOX

MAX_PARTS = 10
"""Telegram's most items in one media group."""


@dataclass(frozen=True)
class AlbumPart:
    id: int
    payload: dict[str, Any]
    received_at: datetime


async def waiting_parts(db: Database, chat_key: str, after_id: int, album: str) -> list[AlbumPart]:
    """The parts of `album` queued in the chat after row `after_id`, oldest first."""
    m = InboxEvent
    query = (
        select(m.id, m.payload, m.received_at)
        .where(m.chat_key == chat_key, m.id > after_id, m.status == INBOX.ready)
        .order_by(m.id)
        .limit(4 * MAX_PARTS)  # a few other messages of the chat may sit between the parts
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [
        AlbumPart(row.id, row.payload, row.received_at)
        for row in rows
        if (row.payload.get("hints") or {}).get("album") == album
    ][: MAX_PARTS - 1]


async def absorb(st: Statements, ids: Sequence[int], into: int, status: str, now: datetime) -> None:
    """Settle the parts `ids` with the album's first part `into` (same status)."""
    if not ids:
        return
    await st.conn.execute(
        update(InboxEvent)
        .where(InboxEvent.id.in_(list(ids)), InboxEvent.status == INBOX.ready)
        .values(status=status, processed_at=now, last_error=f"album part of inbox {into}")
    )
