"""Migrations never take rows with them: on SQLite, Alembic's batch mode rebuilds a table to alter
it, and with foreign keys enforced the rebuild's DROP TABLE would delete every row that refers to
it (ON DELETE CASCADE): a project's accounts, identity links and inbox."""

from __future__ import annotations

from sqlalchemy import text

from gateway.storage.db import Database
from gateway.storage.db.schema import SCHEMA_HEAD, current_revision, downgrade, upgrade

CHILDREN = ("channel_accounts", "identity_links", "inbox_events")


async def _seed(db: Database) -> None:
    async with db.engine.begin() as conn:
        project_id: int = (
            await conn.execute(
                text(
                    "INSERT INTO projects (name, model, unlinked_policy, created_at, updated_at) "
                    "VALUES ('kept', 'balanced', 'channel_user', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP) RETURNING id"
                )
            )
        ).scalar_one()
        await conn.execute(
            text(
                "INSERT INTO channel_accounts (project_id, channel, account, secrets_encrypted, "
                "config, enabled, created_at, updated_at) VALUES (:p, 'telegram', 'bot', 'x', "
                "'{}', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"p": project_id},
        )
        await conn.execute(
            text(
                "INSERT INTO identity_links (project_id, channel, sender, app_user_id, "
                "created_by, created_at) VALUES (:p, 'telegram', '42', 'user-1', 'test', "
                "CURRENT_TIMESTAMP)"
            ),
            {"p": project_id},
        )
        await conn.execute(
            text(
                "INSERT INTO inbox_events (project_id, channel, account, event_id, kind, "
                "chat_key, payload, status, attempts, next_attempt_at, received_at) "
                "VALUES (:p, 'telegram', 'bot', 'k1', 'message', 'c1', '{}', 'done', 0, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"p": project_id},
        )


async def _counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        return {
            table: (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("projects", *CHILDREN)
        }


async def test_rebuilding_projects_keeps_what_refers_to_it(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    try:
        await _seed(db)
        before = await _counts(db)
        assert all(before.values()), before
        # 0009's downgrade drops a column of `projects`: on SQLite, a rebuild of the table.
        await downgrade(db, "0008")
        assert await _counts(db) == before
        await upgrade(db)
        assert await current_revision(db) == SCHEMA_HEAD
        assert await _counts(db) == before
        # Enforcement is back on for the pool's connection once the migration is over.
        async with db.engine.connect() as conn:
            if db.is_sqlite:
                assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    finally:
        await db.close()
