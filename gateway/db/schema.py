"""Schema management: apply Alembic migrations and check that a database is current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from gateway.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    pass


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(db: Database, revision: str = "head") -> None:
    def run(connection: Any) -> None:
        cfg = _config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def is_empty(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return not await conn.run_sync(lambda c: inspect(c).get_table_names())


async def ensure_current(db: Database, *, create_empty_sqlite: bool = True) -> None:
    """Refuse to run on an out-of-date schema; a brand-new SQLite file is created in place.

    The exception keeps `gateway serve` zero-setup on the embedded default without ever migrating
    a database that already holds data behind the operator's back.
    """
    if create_empty_sqlite and db.is_sqlite and await is_empty(db):
        await upgrade(db)
        return
    current, head = await current_revision(db), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database schema is at {current or 'nothing'}, this release needs {head}: "
            "run `gateway migrate` first"
        )
