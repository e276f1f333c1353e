"""Inbound media kept for GATEWAY_MEDIA_RETENTION_HOURS, encrypted at rest.

With retention on, each item a turn downloaded is saved right after the download (its own short
transaction), so a turn retried after a crash or a core 5xx reuses it instead of downloading
again. The bytes are a Fernet token under GATEWAY_SECRET_KEY (`data_encrypted`, so key rotation
and `gateway verify` cover them like every other secret). Expired rows are deleted by the
worker's sweeper (`purge_expired`); rows of a deleted inbox event go with it.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select

from gateway.storage.db import Database
from gateway.storage.db.models import MediaItem, utcnow
from gateway.storage.secrets import SecretBox, SecretKeyError

log = structlog.get_logger("gateway.storage.media")

_MIME_CHARS = 255


@dataclass(frozen=True)
class KeptMedia:
    """One downloaded attachment of an inbox event."""

    position: int
    """The attachment's index in the event's attachments."""
    kind: str
    mime_type: str
    filename: str | None
    data: bytes


class MediaStore:
    """Saves, loads and purges the kept media of inbox events (used only when retention > 0)."""

    def __init__(self, db: Database, box: SecretBox, hours: float) -> None:
        self.db, self.box, self.hours = db, box, hours

    async def save(
        self,
        project_id: int,
        inbox_event_id: int,
        items: Sequence[KeptMedia],
        now: datetime | None = None,
    ) -> None:
        """Keep `items` for `hours`; an item already kept for the same position stays as is."""
        if not items:
            return
        now = now or utcnow()
        expires = now + timedelta(hours=self.hours)
        rows = [
            {
                "project_id": project_id,
                "inbox_event_id": inbox_event_id,
                "position": item.position,
                "kind": item.kind,
                "mime_type": item.mime_type[:_MIME_CHARS],
                "filename": item.filename,
                "size": len(item.data),
                "data_encrypted": await asyncio.to_thread(self._seal, item.data),
                "created_at": now,
                "expires_at": expires,
            }
            for item in items
        ]
        insert = self.db.insert(MediaItem).on_conflict_do_nothing(
            index_elements=["inbox_event_id", "position"]
        )
        async with self.db.engine.begin() as conn:
            await conn.execute(insert, rows)

    async def load(self, inbox_event_id: int, now: datetime | None = None) -> list[KeptMedia]:
        """The event's unexpired items, by position; one that does not decrypt (its key was
        dropped) is left out, so it is downloaded again."""
        query = (
            select(MediaItem)
            .where(MediaItem.inbox_event_id == inbox_event_id)
            .where(MediaItem.expires_at > (now or utcnow()))
            .order_by(MediaItem.position)
        )
        async with self.db.session() as session:
            rows = (await session.scalars(query)).all()
        kept: list[KeptMedia] = []
        for row in rows:
            try:
                data = await asyncio.to_thread(self._open, row.data_encrypted)
            except SecretKeyError:
                log.warning("media.kept_unreadable", media_item=row.id)
                continue
            kept.append(KeptMedia(row.position, row.kind, row.mime_type, row.filename, data))
        return kept

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete every item whose time is over; how many were deleted."""
        statement = delete(MediaItem).where(MediaItem.expires_at <= (now or utcnow()))
        async with self.db.engine.begin() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount or 0)

    def _seal(self, data: bytes) -> str:
        return self.box.encrypt({"data": base64.b64encode(data).decode("ascii")})

    def _open(self, token: str) -> bytes:
        return base64.b64decode(self.box.decrypt(token)["data"])
