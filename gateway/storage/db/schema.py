"""Schema management: apply Alembic migrations and check that a database is current.

Alembic is imported only to migrate: checking the revision is one SELECT against `SCHEMA_HEAD`,
which keeps alembic (and mako) out of the memory of every serving process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text

from gateway.errors import StartupError
from gateway.storage.db import Database
from gateway.storage.db.reach import check_reachable

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA_HEAD = "0014"
"""The newest migration's revision; a test keeps it equal to Alembic's head."""


class SchemaOutOfDate(StartupError):
    pass


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return SCHEMA_HEAD


def alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


async def upgrade(db: Database, revision: str = "head") -> None:
    await _migrate(db, "upgrade", revision)


async def downgrade(db: Database, revision: str) -> None:
    """Back to `revision` (tests and rollback drills; no CLI command runs it)."""
    await _migrate(db, "downgrade", revision)


class MigrationBrokeForeignKeys(RuntimeError):
    pass


async def _migrate(db: Database, direction: str, revision: str) -> None:
    """Run Alembic in one transaction on one connection.

    On SQLite, Alembic's batch mode alters a table by rebuilding it (copy, drop, rename), and
    with foreign keys enforced the drop deletes every row that references the table: dropping
    and recreating `projects` would take every account, inbox event and turn with it (ON DELETE
    CASCADE). So enforcement is off while the migration runs (SQLite ignores the pragma inside
    a transaction: it is set before one begins), and `PRAGMA foreign_key_check` must find
    nothing dangling before the transaction commits.
    """
    from alembic import command

    def run(connection: Any) -> None:
        cfg = _config()
        cfg.attributes["connection"] = connection
        getattr(command, direction)(cfg, revision)
        if db.is_sqlite:
            dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if dangling:
                raise MigrationBrokeForeignKeys(
                    f"{direction} to {revision} left rows whose foreign keys point nowhere: "
                    f"{dangling[:5]}; rolled back"
                )

    async with db.engine.connect() as conn:
        if db.is_sqlite:
            await conn.run_sync(_sqlite_foreign_keys, False)
        try:
            async with conn.begin():
                await conn.run_sync(run)
        finally:
            if db.is_sqlite:
                await conn.run_sync(_sqlite_foreign_keys, True)


def _sqlite_foreign_keys(connection: Any, enforced: bool) -> None:
    """Straight on the driver's connection: through SQLAlchemy the statement would begin a
    transaction first, and the pragma is a no-op inside one."""
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
    finally:
        cursor.close()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        has_table = await conn.run_sync(lambda c: inspect(c).has_table("alembic_version"))
        if not has_table:
            return None
        return await conn.scalar(text("SELECT version_num FROM alembic_version"))


async def is_empty(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return not await conn.run_sync(lambda c: inspect(c).get_table_names())


async def ensure_current(db: Database, *, create_empty_sqlite: bool = True) -> None:
    """Refuse to run on an out-of-date schema; a brand-new SQLite file is created in place.

    The exception keeps `gateway serve` zero-setup on the embedded default without ever migrating
    a database that already holds data behind the operator's back.
    """
    await check_reachable(db)
    if create_empty_sqlite and db.is_sqlite and await is_empty(db):
        await upgrade(db)
        return
    current, head = await current_revision(db), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'nothing'}, this release needs {head}: "
            "run `gateway migrate` first"
        )
