"""The migrations build exactly the schema the models describe (on SQLite and PostgreSQL), and
the code's idea of the newest revision is Alembic's."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.storage.db import Database
from gateway.storage.db.models import Base
from gateway.storage.db.schema import SCHEMA_HEAD, alembic_head


def test_schema_head_constant_matches_the_migrations() -> None:
    assert alembic_head() == SCHEMA_HEAD


async def test_migrated_database_matches_the_models(db_url: str) -> None:
    db = Database(db_url, pool_size=1)
    try:
        async with db.engine.connect() as conn:

            def diff(sync_conn: Any) -> list[Any]:
                context = MigrationContext.configure(
                    sync_conn, opts={"compare_type": False, "compare_server_default": False}
                )
                return compare_metadata(context, Base.metadata)

            problems = await conn.run_sync(diff)
    finally:
        await db.close()
    assert [p for p in problems if not _ignored(p)] == []


def _ignored(problem: Any) -> bool:
    """The alembic_version table is Alembic's own."""
    return (
        isinstance(problem, tuple)
        and problem[0] == "remove_table"
        and (problem[1].name == "alembic_version")
    )
