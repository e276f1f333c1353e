"""Migration 0012 (`projects.core_concurrency`) on SQLite and PostgreSQL: an existing project keeps
its row (and its accounts) and reads as GATEWAY_CORE_CONCURRENCY; the downgrade drops the column
and keeps the rows, a project's own value with it."""

from __future__ import annotations

from sqlalchemy import inspect, text

from gateway.config import Settings
from gateway.storage.db import Database
from gateway.storage.db.schema import SCHEMA_HEAD, current_revision, downgrade, upgrade
from gateway.storage.projects import ProjectStore
from gateway.storage.secrets import SecretBox, generate_key

_PROJECT = (
    "INSERT INTO projects (name, model, unlinked_policy, created_at, updated_at) "
    "VALUES (:name, 'balanced', 'channel_user', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)
_ACCOUNT = (
    "INSERT INTO channel_accounts (project_id, channel, account, secrets_encrypted, config, "
    "enabled, created_at, updated_at) SELECT id, 'telegram', :account, :sealed, '{}', "
    "true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM projects WHERE name = :name"
)


async def _columns(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        found = await conn.run_sync(lambda c: inspect(c).get_columns("projects"))
    return {column["name"] for column in found}


async def _rows(db: Database) -> list[tuple[str, str, str]]:
    """(project, model, account) of the projects named old / own and their accounts."""
    async with db.engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT p.name, p.model, a.account FROM projects p JOIN channel_accounts a "
                "ON a.project_id = p.id WHERE p.name IN ('old', 'own') ORDER BY p.name"
            )
        )
        return [(row[0], row[1], row[2]) for row in found]


async def test_0012_adds_the_column_and_old_projects_read_as_the_default(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    box = SecretBox([generate_key()])
    sealed = box.encrypt({"token": "1:x"})
    try:
        await downgrade(db, "0011")
        try:
            assert await current_revision(db) == "0011"
            assert "core_concurrency" not in await _columns(db)
            async with db.engine.begin() as conn:
                await conn.execute(text(_PROJECT), {"name": "old"})
                await conn.execute(
                    text(_ACCOUNT), {"name": "old", "account": "old-bot", "sealed": sealed}
                )
        finally:
            await upgrade(db)
        assert await current_revision(db) == SCHEMA_HEAD
        assert "core_concurrency" in await _columns(db)
        assert await _rows(db) == [("old", "balanced", "old-bot")]
        store = ProjectStore(db, box, Settings())
        assert (await store.project_info("old")).core_concurrency == 2000
        assert (await store.get_project("old")).core_concurrency == 2000
        tuned = ProjectStore(db, box, Settings(core_concurrency=7))
        assert (await tuned.project_info("old")).core_concurrency == 7
        assert (await tuned.get_project("old")).core_concurrency == 7

        async with db.engine.begin() as conn:
            await conn.execute(text(_PROJECT), {"name": "own"})
            await conn.execute(
                text(_ACCOUNT), {"name": "own", "account": "own-bot", "sealed": sealed}
            )
            await conn.execute(text("UPDATE projects SET core_concurrency = 3 WHERE name = 'own'"))
        assert (await tuned.project_info("own")).core_concurrency == 3

        await downgrade(db, "0011")
        try:
            assert await current_revision(db) == "0011"
            assert "core_concurrency" not in await _columns(db)
            assert await _rows(db) == [
                ("old", "balanced", "old-bot"),
                ("own", "balanced", "own-bot"),
            ]
        finally:
            await upgrade(db)
        assert (await tuned.project_info("own")).core_concurrency == 7  # back to the default
        assert await _rows(db) == [("old", "balanced", "old-bot"), ("own", "balanced", "own-bot")]
    finally:
        await db.close()
