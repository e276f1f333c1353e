"""Database access: one async engine and session factory per process, dialect helpers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.storage.db import raw
from gateway.storage.db.dsn import engine_options

INGEST_POOL_SIZE = 4
"""Connections for webhook inserts: one per inbox group commit in flight (`gateway.storage.inbox`
allows this many at once)."""


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        options = engine_options(url)  # postgres://, libpq options (`dsn.py`)
        self.url = options.url
        self.connect_args = options.connect_args
        self.is_sqlite = options.is_sqlite
        kwargs: dict[str, Any] = {"connect_args": self.connect_args}
        if not self.is_sqlite:
            # No pre-ping: it costs a round trip per checkout. A connection broken by a server
            # restart fails its statement, SQLAlchemy then invalidates the whole pool, and the
            # caller answers 503 (providers redeliver). No overflow: under load, overflow
            # connections were opened and closed for every burst (measured: ~8% of the CPU of a
            # busy process went to connecting); a fixed pool queues callers instead.
            kwargs |= {"pool_size": pool_size, "max_overflow": 0}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin_immediate)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Lease renewals and "sent" marks must not queue behind a busy pool: a late renewal lets
        # another process take over work in progress, a late mark widens the resend window.
        self.control = self._small_pool()
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # Claims commit without waiting for the WAL flush (docs/decisions.md): a claim lost in a
        # database crash leaves its rows ready, the state a lost claim falls back to anyway;
        # everything the claimed work writes commits durably, fenced on the claim. One
        # connection per claim loop (inbox, outbox, app webhooks).
        self.claims = self._small_pool(synchronous_commit="off")
        # Webhooks wait for their inbox insert before they answer the provider: it must not
        # queue behind the worker's statements for a connection. The pool opens its connections
        # on first use, i.e. from the web's requests, so in `serve` the fair loop runs their
        # answers with the web's callbacks, not behind the worker's (gateway/fair_loop.py).
        # A `gateway worker` process never opens it.
        self.ingest = self._small_pool(size=INGEST_POOL_SIZE)

    def _small_pool(self, *, size: int = 3, **server_settings: str) -> AsyncEngine:
        """`size` autocommit connections of their own, opened on first use (PostgreSQL);
        SQLite has one engine."""
        if self.is_sqlite:
            return self.engine
        connect_args = dict(self.connect_args)
        if server_settings:
            connect_args["server_settings"] = {
                **connect_args.get("server_settings", {}),
                **server_settings,
            }
        return create_async_engine(
            self.url, pool_size=size, max_overflow=0, connect_args=connect_args
        ).execution_options(isolation_level="AUTOCOMMIT")

    def single_statement(self) -> Any:
        """A connection for one self-contained write statement.

        On PostgreSQL it runs in autocommit: one round trip instead of BEGIN, statement, COMMIT.
        SQLite keeps its explicit (immediate) transaction, which takes the write lock up front.
        """
        if self.is_sqlite:
            return self.engine.begin()
        return self._autocommit.connect()

    def session(self) -> AsyncSession:
        return self.sessions()

    def insert(self, table: Any) -> Any:
        """An INSERT that supports `on_conflict_do_nothing` on either backend."""
        return sqlite_insert(table) if self.is_sqlite else pg_insert(table)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def statements(
        self,
        *,
        transaction: bool = True,
        control: bool = False,
        claim: bool = False,
        ingest: bool = False,
    ) -> Any:
        """A `raw.Statements` runner for the hot path's statements, as one transaction or (no
        `transaction`) one autocommit statement; `control` uses the small lease-write pool,
        `claim` the claim pool (commits that do not wait for the WAL flush), `ingest` the
        webhooks' own pool for their inbox inserts. PostgreSQL runs
        them on asyncpg directly (see `gateway.storage.db.raw`)."""
        if self.is_sqlite:
            return raw.statements(self.engine, asyncpg_direct=False, transaction=transaction)
        if ingest:
            engine = self.ingest
        elif claim:
            engine = self.claims
        elif control:
            engine = self.control
        else:
            engine = self._autocommit
        return raw.statements(engine, asyncpg_direct=True, transaction=transaction)

    def control_statement(self) -> Any:
        """Like `single_statement`, on the small pool reserved for lease and settle writes."""
        if self.is_sqlite:
            return self.engine.begin()
        return self.control.connect()

    async def close(self) -> None:
        await self.engine.dispose()
        for engine in (self.control, self.claims, self.ingest):
            if engine is not self.engine:
                await engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside the writer; busy_timeout turns lock contention into waiting.

    The driver's own implicit transactions are switched off so that `_sqlite_begin_immediate`
    decides how every transaction starts.
    """
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    """Take the write lock up front: a transaction that reads and then writes can otherwise fail
    with SQLITE_BUSY when another connection committed in between, instead of waiting."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")
