"""The hot path's statement runner (`gateway.storage.db.raw`): same rows on both backends,
SQLAlchemy's exceptions from asyncpg, and no broken connection ever handed out again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select, text

from gateway.messages import InboundEvent
from gateway.storage.db import Database
from gateway.storage.db.models import InboxEvent, Project
from gateway.storage.db.raw import BulkInsert
from gateway.storage.inbox import INBOX, INBOX_COLUMNS, inbox_row
from gateway.storage.queue import claim, settle_many
from tests.auxil.databases import PostgresServer


def _event(event_id: str, chat: str = "c1", **overrides: object) -> dict[str, object]:
    return {
        "project_id": 1,
        "channel": "telegram",
        "account": "default",
        "event_id": event_id,
        "chat_key": f"telegram:default:{chat}",
        "kind": "message",
        "payload": {"text": "héllo", "nested": {"n": [1, 2]}},
        "status": "pending",
        "request_id": None,
        **overrides,
    }


def _inbound(event_id: str) -> InboundEvent:
    return InboundEvent(
        channel="telegram", account="default", event_id=event_id, kind="message", chat="c1"
    )


async def _project(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(Project).values(id=1, name="p", model="m", unlinked_policy="link_required")
        )


async def test_rows_come_back_typed_and_named_on_both_backends(db_url: str) -> None:
    db = Database(db_url, pool_size=2)
    try:
        await _project(db)
        statement = insert(InboxEvent).returning(InboxEvent.id, InboxEvent.event_id)
        async with db.statements() as st:
            # Columns not given (attempts, next_attempt_at, received_at) get their defaults.
            written = await st.rows_many(statement, [_event("u1"), _event("u2", "c2")])
        assert [row.event_id for row in written] == ["u1", "u2"]
        rows = await claim(db, INBOX, "w1", 30.0, 10)
        assert [(row.event_id, row.attempts, row.claimed_by) for row in rows] == [
            ("u1", 1, "w1"),
            ("u2", 1, "w1"),
        ]
        first = rows[0]
        assert first.payload == {"text": "héllo", "nested": {"n": [1, 2]}}
        assert first.lease_until.tzinfo is not None and first.received_at.tzinfo is not None
        assert first.lease_until > datetime.now(UTC)
        async with db.statements() as st:
            # Fenced: only rows this worker holds are settled.
            done = await settle_many(st, INBOX, [(first.id, "w1", {"status": "done"})])
            stolen = await settle_many(st, INBOX, [(rows[1].id, "w2", {"status": "done"})])
        assert done == {first.id} and stolen == set()
    finally:
        await db.close()


@pytest.fixture
async def pg(_postgres: PostgresServer) -> Database:
    _postgres.require()
    await _postgres.truncate()
    return Database(_postgres.url, pool_size=1)


async def test_database_refusals_arrive_as_sqlalchemy_errors(pg: Database) -> None:
    try:
        await _project(pg)
        statement = insert(InboxEvent)
        with pytest.raises(sa_exc.DataError):  # longer than the column allows
            async with pg.statements() as st:
                await st.execute_many(statement, [_event("x" * 500)])
        with pytest.raises(sa_exc.IntegrityError):  # no such project
            async with pg.statements() as st:
                await st.execute_many(statement, [_event("u1", project_id=99)])
        bulk = BulkInsert(InboxEvent.__table__, INBOX_COLUMNS, lambda insert: insert)
        with pytest.raises(sa_exc.DataError):  # one array per column: never truncated to fit
            async with pg.statements() as st:
                too_long = {**inbox_row(1, _inbound("y"), None, None), "chat_key": "z" * 500}
                await bulk.rows(st, [too_long])
        async with pg.statements() as st:  # the same (only) connection still works
            await st.execute_many(statement, [_event("u1")])
        async with pg.engine.connect() as conn:
            assert await conn.scalar(select(InboxEvent.event_id)) == "u1"
    finally:
        await pg.close()


async def test_a_connection_killed_under_it_is_replaced(pg: Database) -> None:
    try:
        async with pg.statements(transaction=False) as st:
            victim = await st.pg.fetchval("SELECT pg_backend_pid()")
        async with pg.control.connect() as conn:
            await conn.execute(text(f"SELECT pg_terminate_backend({victim})"))
        with pytest.raises(sa_exc.OperationalError) as caught:
            async with pg.statements(transaction=False) as st:
                await st.pg.fetchval("SELECT 1")
        assert caught.value.connection_invalidated
        async with pg.statements(transaction=False) as st:  # a fresh connection, by itself
            assert await st.pg.fetchval("SELECT pg_backend_pid()") != victim
    finally:
        await pg.close()


async def test_a_transaction_cancelled_midway_leaves_nothing_behind(pg: Database) -> None:
    try:
        await _project(pg)
        started = asyncio.Event()

        async def slow_write() -> None:
            async with pg.statements() as st:
                await st.execute_many(insert(InboxEvent), [_event("half")])
                started.set()
                await st.pg.execute("SELECT pg_sleep(5)")

        task = asyncio.create_task(slow_write())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The pool's only connection is not left inside the cancelled transaction: the next
        # write commits, and the cancelled one's row never appears.
        async with pg.statements() as st:
            await st.execute_many(insert(InboxEvent), [_event("after")])
        async with pg.control.connect() as conn:
            ids = (await conn.execute(select(InboxEvent.event_id))).scalars().all()
        assert ids == ["after"]
    finally:
        await pg.close()


async def test_a_connection_goes_back_to_the_pool_without_an_event_loop_hop(pg: Database) -> None:
    """Every acknowledgement waits for its statement's connection to be handed back: that must
    happen in place, not through a task of its own (two loop iterations, which in a busy
    one-process `serve` cost milliseconds). The pool has one connection, so a connection that
    was not handed back would also block the next statement."""
    try:
        for _ in range(2):
            ran: list[bool] = []
            async with pg.statements(transaction=False) as st:  # an acknowledgement's insert
                assert await st.pg.fetchval("SELECT 1") == 1
                asyncio.get_running_loop().call_soon(ran.append, True)
            assert ran == []  # no iteration of the loop ran during the exit
    finally:
        await pg.close()
