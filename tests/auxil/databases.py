"""Test databases: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: `TEST_POSTGRES_URL` or the local server (postgres@127.0.0.1:5432). A fresh database is
created per test session and emptied between tests. Without a server the PostgreSQL variants are
skipped locally, and fail when `CI` is set: CI must never pass by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.storage.db import Database
from gateway.storage.db.models import Base
from gateway.storage.db.schema import upgrade

PG_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def run_blocking(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even when an event loop is running here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.close()


def sqlite_template(tmp_root: Path) -> Path:
    template = tmp_root / "template.db"
    if not template.exists():
        run_blocking(_migrate(f"sqlite+aiosqlite:///{template}"))
    return template


def sqlite_copy(template: Path, target_dir: Path) -> str:
    target = target_dir / "gateway.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


class PostgresServer:
    def __init__(self) -> None:
        self.name = f"gw_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"
        self.available = False
        self.error = ""

    async def _admin(self, sql: str) -> None:
        engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    def create(self) -> None:
        try:
            run_blocking(self._admin(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:  # no server: reported by `require`
            self.error = f"{type(exc).__name__}: {exc}"
            return
        run_blocking(_migrate(self.url))
        self.available = True

    def drop(self) -> None:
        if self.available:
            run_blocking(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    def require(self) -> None:
        if self.available:
            return
        message = f"PostgreSQL unavailable at {PG_ADMIN_URL}: {self.error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

    async def truncate(self) -> None:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        engine = create_async_engine(self.url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        finally:
            await engine.dispose()
