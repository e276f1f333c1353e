"""Migration 0009 (`projects.transcription`) on SQLite and PostgreSQL: an existing project keeps
its row and reads as `auto`; the downgrade drops the column again."""

from __future__ import annotations

from sqlalchemy import inspect, text

from gateway.config import Settings
from gateway.storage.db import Database
from gateway.storage.db.schema import SCHEMA_HEAD, current_revision, downgrade, upgrade
from gateway.storage.projects import ProjectStore
from gateway.storage.secrets import SecretBox, generate_key


async def _columns(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        found = await conn.run_sync(lambda c: inspect(c).get_columns("projects"))
    return {column["name"] for column in found}


async def test_0009_adds_the_column_and_old_projects_read_as_auto(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    try:
        await downgrade(db, "0008")
        try:
            assert "transcription" not in await _columns(db)
            async with db.engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO projects (name, model, unlinked_policy, created_at, "
                        "updated_at) VALUES ('old', 'balanced', 'channel_user', "
                        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    )
                )
        finally:
            await upgrade(db)
        assert await current_revision(db) == SCHEMA_HEAD
        assert "transcription" in await _columns(db)
        store = ProjectStore(db, SecretBox([generate_key()]), Settings())
        assert (await store.project_info("old")).transcription == "auto"
    finally:
        await db.close()
