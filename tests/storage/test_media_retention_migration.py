"""Migration 0010 (`media_items`, GATEWAY_MEDIA_RETENTION_HOURS) on SQLite and PostgreSQL: the
downgrade to 0009 drops the table, the upgrade builds it again (unique per event and position,
indexed on `expires_at`), and an item goes with its inbox event."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from gateway.storage.db import Database
from gateway.storage.db.models import utcnow
from gateway.storage.db.schema import SCHEMA_HEAD, current_revision, downgrade, upgrade


async def _layout(db: Database) -> dict[str, Any] | None:
    """media_items' columns, unique constraints and indexes; None: no such table."""

    def read(sync_conn: Any) -> dict[str, Any] | None:
        schema = inspect(sync_conn)
        if not schema.has_table("media_items"):
            return None
        return {
            "columns": {c["name"] for c in schema.get_columns("media_items")},
            "unique": {
                tuple(u["column_names"]) for u in schema.get_unique_constraints("media_items")
            },
            "indexes": {tuple(i["column_names"]) for i in schema.get_indexes("media_items")},
        }

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


_ITEM = (
    "INSERT INTO media_items (project_id, inbox_event_id, position, kind, mime_type, size, "
    "data_encrypted, created_at, expires_at) VALUES (:project, :event, 0, 'image', "
    "'image/jpeg', 3, 'token', :now, :now)"
)


async def test_0010_creates_media_items_and_the_downgrade_drops_it(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    try:
        await downgrade(db, "0009")
        try:
            assert await current_revision(db) == "0009"
            assert await _layout(db) is None
        finally:
            await upgrade(db)
        assert await current_revision(db) == SCHEMA_HEAD
        layout = await _layout(db)
        assert layout is not None
        assert {"inbox_event_id", "position", "data_encrypted", "expires_at"} <= layout["columns"]
        assert ("inbox_event_id", "position") in layout["unique"]
        assert ("expires_at",) in layout["indexes"]

        now = utcnow().replace(tzinfo=None)
        async with db.engine.begin() as conn:
            project = (
                await conn.execute(
                    text(
                        "INSERT INTO projects (name, model, unlinked_policy, created_at, "
                        "updated_at) VALUES ('m', 'balanced', 'channel_user', :now, :now) "
                        "RETURNING id"
                    ),
                    {"now": now},
                )
            ).scalar_one()
            event = (
                await conn.execute(
                    text(
                        "INSERT INTO inbox_events (project_id, channel, account, event_id, "
                        "chat_key, kind, payload, status, attempts, next_attempt_at, "
                        "received_at) VALUES (:project, 'telegram', 'default', 'e1', 'c', "
                        "'message', '{}', 'done', 0, :now, :now) RETURNING id"
                    ),
                    {"project": project, "now": now},
                )
            ).scalar_one()
            await conn.execute(text(_ITEM), {"project": project, "event": event, "now": now})
        with pytest.raises(IntegrityError):  # one item per event and position
            async with db.engine.begin() as conn:
                await conn.execute(text(_ITEM), {"project": project, "event": event, "now": now})
        async with db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM inbox_events WHERE id = :id"), {"id": event})
            left = (await conn.execute(text("SELECT count(*) FROM media_items"))).scalar_one()
        assert left == 0  # ON DELETE CASCADE, like the event's turn
    finally:
        await db.close()
