"""The work queue: several workers on one database never share a row and keep per-chat order."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.dialects import postgresql

from gateway.messages import InboundEvent
from gateway.runtime import Runtime
from gateway.storage import worker
from gateway.storage.db import Database
from gateway.storage.db.models import InboxEvent
from gateway.storage.db.schema import (
    SCHEMA_HEAD,
    SchemaOutOfDate,
    alembic_head,
    ensure_current,
    is_empty,
)
from gateway.storage.inbox import INBOX, chat_key
from gateway.storage.outbox import OUTBOX
from gateway.storage.queue import _claim_sql, claim, extend, release_leases, renew_leases
from gateway.storage.worker import ClaimLoop
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually, settings_for


async def test_two_workers_share_the_load_without_overlap(harness: Harness) -> None:
    """A second worker (its own runtime and connection pool, same database) claims beside the
    first: SKIP LOCKED on PostgreSQL, the single-statement claim under SQLite's write lock."""
    second = Runtime(harness.settings)
    await second.prepare()
    second.start_loops()
    try:
        chats = [1001, 1002, 1003, 1004]
        for i in range(10):
            for chat in chats:
                user = {"id": chat, "is_bot": False, "first_name": f"U{chat}"}
                await harness.post_update(
                    updates.message(f"#slow=0.05 m{i}", chat_id=chat, user=user)
                )
                second.wake_worker()
        await harness.telegram.wait_for("sendMessage", 40, timeout=30)
        await asyncio.sleep(0.5)
        for chat in chats:
            got = [t.split(" (turn")[0] for t in harness.telegram.sent_texts(chat)]
            assert got == [f"Echo: m{i}" for i in range(10)], chat
        assert len(harness.core.requests) == 40
        keys = [r["headers"]["x-idempotency-key"] for r in harness.core.requests]
        assert len(set(keys)) == 40  # no event was processed twice
        turns = await harness.turns()
        assert len(turns) == 40
    finally:
        await second.close()


async def _default_project(db_url: str) -> int:
    """A migrated database with the default project (a runtime's start-up creates both)."""
    rt = Runtime(settings_for(db_url, "http://127.0.0.1:9", "http://127.0.0.1:9"))
    await rt.prepare()
    project = await rt.store.project_info("default")
    await rt.close()
    return project.id


async def _insert(db: Database, project_id: int, chat: str, n: int) -> None:
    async with db.session() as session, session.begin():
        for i in range(n):
            event = InboundEvent(
                channel="telegram",
                account="default",
                event_id=f"{chat}-{i}",
                kind="message",
                chat=chat,
                sender=chat,
                text=str(i),
            )
            session.add(
                InboxEvent(
                    project_id=project_id,
                    channel="telegram",
                    account="default",
                    event_id=event.event_id,
                    chat_key=chat_key(event),
                    kind="message",
                    payload=event.model_dump(mode="json"),
                    status="pending",
                    attempts=0,
                )
            )


async def test_claim_takes_only_the_head_of_each_chat_and_leases_expire(db_url: str) -> None:
    runtime_db = Database(db_url)
    try:
        project_id = await _default_project(db_url)
        await _insert(runtime_db, project_id, "a", 3)
        await _insert(runtime_db, project_id, "b", 2)

        first = [row.id for row in await claim(runtime_db, INBOX, "w1", lease=0.5, limit=10)]
        assert len(first) == 2  # one per chat: the heads
        assert await claim(runtime_db, INBOX, "w2", lease=0.5, limit=10) == []
        assert await extend(runtime_db, INBOX, first[0], "w1", 0.5)
        assert not await extend(runtime_db, INBOX, first[0], "w2", 0.5)  # not w2's lease

        # w1 dies: after the lease, w2 takes over the very same heads.
        await asyncio.sleep(1.2)  # both leases (one was extended) have run out
        taken = [row.id for row in await claim(runtime_db, INBOX, "w2", lease=5, limit=10)]
        assert taken == first
        assert not await extend(runtime_db, INBOX, first[0], "w1", 0.5)  # fenced out
    finally:
        await runtime_db.close()


async def test_only_claims_commit_without_waiting_for_the_disk(db_url: str) -> None:
    """A claim lost in a database crash leaves its rows ready (nothing to protect), so on
    PostgreSQL claims skip the wait for the WAL flush; every other write waits for it. A claim
    is still seen by every other worker the moment it commits (the test above: w2 gets none)."""
    db = Database(db_url)
    try:
        if db.is_sqlite:
            assert db.claims is db.engine  # one file, one writer: nothing to separate
            return

        async def setting(**pool: bool) -> str:
            async with db.statements(transaction=False, **pool) as st:
                return str(await st.pg.fetchval("SHOW synchronous_commit"))

        assert await setting(claim=True) == "off"
        assert await setting() == "on"
        assert await setting(control=True) == "on"
        async with db.session() as session:
            assert (await session.execute(text("SHOW synchronous_commit"))).scalar() == "on"
    finally:
        await db.close()


async def test_lease_renewal_skips_a_row_being_settled_instead_of_waiting(db_url: str) -> None:
    """The heartbeat renews many rows in one statement while finishing transactions lock some of
    them: waiting there deadlocked a finishing batch (three-worker fault test). A row another
    transaction holds is skipped, the others are renewed at once."""
    db = Database(db_url)
    try:
        project_id = await _default_project(db_url)
        await _insert(db, project_id, "a", 1)
        await _insert(db, project_id, "b", 1)
        ids = sorted(row.id for row in await claim(db, INBOX, "w1", lease=30, limit=10))
        assert len(ids) == 2
        assert await renew_leases(db, INBOX, ids, "w2", 60) == set()  # not w2's leases
        if not db.is_sqlite:  # SQLite locks the whole database, not rows
            async with db.engine.connect() as finishing:
                await finishing.execute(
                    update(InboxEvent).where(InboxEvent.id == ids[0]).values(last_error="x")
                )
                renewed = await asyncio.wait_for(renew_leases(db, INBOX, ids, "w1", 60), 5)
                assert renewed == {ids[1]}
                await finishing.rollback()
        assert await renew_leases(db, INBOX, ids, "w1", 60) == set(ids)
    finally:
        await db.close()


async def test_release_hands_held_rows_back_and_skips_a_row_being_settled(db_url: str) -> None:
    """Shutdown releases what the loop still holds so another process takes it at once; like
    the heartbeat it must not wait for (and deadlock with) a batch still settling a row."""
    db = Database(db_url)
    try:
        project_id = await _default_project(db_url)
        for chat in ("a", "b", "c"):
            await _insert(db, project_id, chat, 1)
        ids = sorted(row.id for row in await claim(db, INBOX, "w1", lease=30, limit=10))
        assert len(ids) == 3
        assert await release_leases(db, INBOX, ids, "w2") == set()  # not w2's rows
        if not db.is_sqlite:  # SQLite locks the whole database, not rows
            async with db.engine.connect() as finishing:
                await finishing.execute(
                    update(InboxEvent).where(InboxEvent.id == ids[0]).values(last_error="x")
                )
                released = await asyncio.wait_for(release_leases(db, INBOX, ids[:2], "w1"), 5)
                assert released == {ids[1]}
                await finishing.rollback()
        else:
            assert await release_leases(db, INBOX, ids[1:2], "w1") == {ids[1]}
        # Released rows are ready and claimable by anyone at once; the skipped one stays w1's.
        taken = [row.id for row in await claim(db, INBOX, "w2", lease=30, limit=10)]
        assert taken == [ids[1]]
        assert await release_leases(db, INBOX, ids, "w1") == {ids[0], ids[2]}
        taken = sorted(row.id for row in await claim(db, INBOX, "w2", lease=30, limit=10))
        assert taken == [ids[0], ids[2]]
    finally:
        await db.close()


async def test_stopped_loop_hands_unfinished_rows_back_at_once(db_url: str) -> None:
    """Work still in flight when the grace period ends is released (ready, unclaimed), not left
    to wait out its lease."""
    db = Database(db_url)
    try:
        project_id = await _default_project(db_url)
        for chat in ("a", "b"):
            await _insert(db, project_id, chat, 1)
        started: list[int] = []

        async def stuck(row: object, worker_id: str) -> None:
            started.append(row.id)  # type: ignore[attr-defined]
            await asyncio.sleep(3600)

        loop = ClaimLoop(
            "inbox",
            db,
            INBOX,
            stuck,
            worker_id="w1",
            concurrency=4,
            lease_seconds=600,
            poll_interval=0.05,
        )
        loop.start()
        await eventually(lambda: len(started) == 2, timeout=5)
        await asyncio.wait_for(loop.stop(grace=0.2), 10)
        taken = sorted(row.id for row in await claim(db, INBOX, "w2", lease=30, limit=10))
        assert taken == sorted(started)  # claimable by another worker now, not in 10 minutes
    finally:
        await db.close()


async def test_a_held_back_loop_claims_nothing_until_its_holdback_clears(db_url: str) -> None:
    """`holdback` (the turn writer is behind): no claim at all while it answers True, although
    rows are ready and there is room; claims resume once it clears."""
    db = Database(db_url)
    try:
        project_id = await _default_project(db_url)
        for chat in ("a", "b", "c"):
            await _insert(db, project_id, chat, 1)
        held = True
        started: list[int] = []

        async def handle(row: object, worker_id: str) -> None:
            started.append(row.id)  # type: ignore[attr-defined]

        loop = ClaimLoop(
            "inbox",
            db,
            INBOX,
            handle,
            worker_id="w1",
            concurrency=10,
            lease_seconds=600,
            poll_interval=0.05,
            holdback=lambda: held,
        )
        loop.start()
        await asyncio.sleep(0.5)  # ten polls
        assert started == []
        held = False
        await eventually(lambda: len(started) == 3, timeout=5)
        await asyncio.wait_for(loop.stop(grace=0.2), 10)
    finally:
        await db.close()


async def test_a_loop_claims_at_most_its_batch_asked_before_each_claim(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`batch` caps each claim (asked again before every claim), below the free room."""
    db = Database(db_url)
    try:
        project_id = await _default_project(db_url)
        for n in range(7):
            await _insert(db, project_id, f"batch-{n}", 1)
        limits: list[int] = []
        real_claim = worker.claim

        async def counting_claim(*args: Any, **kwargs: Any) -> list[Any]:
            rows = await real_claim(*args, **kwargs)
            limits.append(args[4])
            assert len(rows) <= args[4]
            return rows

        monkeypatch.setattr(worker, "claim", counting_claim)
        sizes = iter([3, 2])
        started: list[int] = []

        async def handle(row: object, worker_id: str) -> None:
            started.append(row.id)  # type: ignore[attr-defined]
            await asyncio.sleep(3600)  # held: the room stays taken

        loop = ClaimLoop(
            "inbox",
            db,
            INBOX,
            handle,
            worker_id="w1",
            concurrency=10,
            lease_seconds=600,
            poll_interval=0.05,
            batch=lambda: next(sizes, 1),
        )
        loop.start()
        await eventually(lambda: len(started) == 7, timeout=5)
        await asyncio.wait_for(loop.stop(grace=0.1), 10)
        assert limits[:4] == [3, 2, 1, 1]  # then 1 each: the room (10) never was the limit
        assert set(limits) == {3, 2, 1}
    finally:
        await db.close()


def test_the_claim_size_for_turns_follows_the_cores_time() -> None:
    wait: list[float | None] = [None]
    batch = worker.claim_batch_following(lambda: wait[0])
    assert batch() == worker.CLAIM_BATCH_MAX  # nothing known: a burst may be slow
    for seconds, expected in [
        (0.0, worker.FAST_CORE_CLAIM_BATCH),
        (worker.FAST_CORE_S - 0.01, worker.FAST_CORE_CLAIM_BATCH),
        (worker.FAST_CORE_S, worker.CLAIM_BATCH_MAX),
        (3.0, worker.CLAIM_BATCH_MAX),
    ]:
        wait[0] = seconds
        assert batch() == expected, seconds
    assert worker.FAST_CORE_CLAIM_BATCH < worker.CLAIM_BATCH_MAX


async def test_schema_checks(db_url: str, tmp_path: Path) -> None:
    # A migrated database passes.
    db = Database(db_url)
    try:
        await ensure_current(db)
    finally:
        await db.close()
    # A brand-new SQLite file is created in place (zero set-up).
    fresh = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert await is_empty(fresh)
        await ensure_current(fresh)
        assert not await is_empty(fresh)
    finally:
        await fresh.close()
    # Anything else that is not at head is refused with the command to run.
    behind = Database(f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}")
    try:
        async with behind.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE unrelated (id INTEGER)"))
        with pytest.raises(SchemaOutOfDate, match="gateway migrate"):
            await ensure_current(behind)
    finally:
        await behind.close()


def test_schema_head_constant_matches_alembic() -> None:
    assert alembic_head() == SCHEMA_HEAD


async def test_a_claim_looks_each_candidates_chat_up_whatever_plan_is_cached(
    db_url: str,
) -> None:
    """The claim's per-chat order check is a correlated subquery answered by one probe of the
    chat's open rows. As NOT EXISTS it became an anti-join, and a generic plan fixed while the
    queue had few open rows joined every candidate against every open row (0.1-0.7 s per claim
    in the slow-core benchmark's burst). Checked on the plan PostgreSQL caches for a prepared
    statement (the generic one), for both queues and both claim kinds."""
    if db_url.startswith("sqlite"):
        return  # SQLite plans each statement itself
    db = Database(db_url)
    try:
        await _default_project(db_url)
        for spec in (INBOX, OUTBOX):
            for expired in (False, True):
                plan = await _generic_plan(db, _claim_sql(spec, True, expired=expired))
                assert "Anti Join" not in json.dumps(plan), plan
                lookups = [
                    node
                    for node in _nodes(plan)
                    if node.get("Index Name", "").endswith("_open_chat")
                ]
                assert lookups, plan
                assert all("chat_key" in node.get("Index Cond", "") for node in lookups), plan
    finally:
        await db.close()


async def _generic_plan(db: Database, statement: Any) -> Any:
    """EXPLAIN of `statement` as a prepared statement's generic plan (PostgreSQL)."""
    compiled = statement.compile(dialect=postgresql.dialect())
    order: list[str] = []

    def positional(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    sql = re.sub(r"%\((\w+)\)s", positional, str(compiled))
    async with db.engine.connect() as conn:
        await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        await conn.exec_driver_sql(f"PREPARE claim_plan AS {sql}")
        nulls = ", ".join("NULL" for _ in order)
        result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE claim_plan({nulls})")
        plan = result.scalar()
        await conn.exec_driver_sql("DEALLOCATE claim_plan")
        await conn.rollback()
    return json.loads(plan) if isinstance(plan, str) else plan


def _nodes(plan: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [plan]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
