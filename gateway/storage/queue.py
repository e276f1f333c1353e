"""Database work queues (inbox and outbox share this one mechanism).

A row is claimed with a lease: one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING id` statement, so any number of processes can claim side by side on PostgreSQL and a
claim is atomic on SQLite too. Only the head of each chat's queue is claimable (no earlier row of
the same chat is waiting or in flight), which gives one-at-a-time, in-order processing per chat and
concurrency across chats. A lease that runs out (the holder died) makes the row claimable again;
every later write is fenced on `claimed_by`, so a holder that lost its lease changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from gateway.storage.db import Database
from gateway.storage.db.models import UTCDateTime, utcnow
from gateway.storage.db.raw import Statements


@dataclass(frozen=True)
class QueueSpec:
    model: Any
    ready: str
    active: str


async def claim(
    db: Database,
    spec: QueueSpec,
    worker_id: str,
    lease: float,
    limit: int,
    *,
    include_expired: bool = True,
) -> list[Any]:
    """Claim up to `limit` rows; returns them (as claimed), oldest first.

    Ready rows are found by walking the (status, id) index, so a claim costs the same with ten
    or ten million finished rows in the table (one combined "ready or expired" condition made
    PostgreSQL walk every finished row: 5 ms per claim at 20,000 rows, and growing). Rows whose
    lease ran out (their holder died) are looked for only with `include_expired`, which the
    claim loop asks for once per poll interval.

    On PostgreSQL the claim does not wait for its commit to reach the disk (`Database.claims`):
    if the database crashes before it does, the rows are simply ready again."""
    async with db.statements(transaction=False, claim=True) as st:
        # Timestamps are taken once the connection is ours: a wait for the pool must not eat
        # into the lease being granted.
        now = utcnow()
        params = {
            "p_now": now,
            "p_lease_until": now + timedelta(seconds=lease),
            "p_worker": worker_id,
            "p_limit": limit,
        }
        lock = not db.is_sqlite
        # Core, not the ORM: rows come back as plain named rows, no identity map to maintain.
        rows: list[Any] = []
        remaining = limit
        if include_expired:
            rows = await st.rows(_claim_sql(spec, lock, expired=True), params)
            remaining = params["p_limit"] = limit - len(rows)
        if remaining > 0:
            rows += await st.rows(_claim_sql(spec, lock, expired=False), params)
        return sorted(rows, key=lambda row: row.id)


# Hot statements are built once with bound parameters: building one per call (and computing its
# cache key) cost more CPU than running it.


@cache
def _claim_sql(spec: QueueSpec, lock_rows: bool, *, expired: bool) -> Any:
    """Claim the oldest head-of-chat rows that are ready (or, `expired`, whose lease ran out)."""
    m = spec.model
    now = bindparam("p_now", type_=UTCDateTime())
    other = aliased(m)
    # The head of the chat: its oldest open row. A correlated scalar subquery, not NOT EXISTS:
    # PostgreSQL turns NOT EXISTS into an anti-join, and a generic plan fixed while the queue
    # had few open rows joined each candidate against *every* open row (0.1-0.7 s per claim
    # once a burst was waiting); the subquery can only look its chat up, one index probe.
    chat_head = (
        select(func.min(other.id))
        .where(
            other.chat_key == m.chat_key,
            # Literal, not bound: the partial index of open rows (`ix_*_open_chat`) serves a
            # prepared statement's generic plan only if its predicate is in the SQL text.
            other.status.in_(
                [literal_column(f"'{spec.ready}'"), literal_column(f"'{spec.active}'")]
            ),
        )
        .scalar_subquery()
    )
    due = (
        and_(m.status == spec.active, m.lease_until < now)
        if expired
        else and_(m.status == spec.ready, m.next_attempt_at <= now)
    )
    candidates = (
        select(m.id)
        .where(due, m.id == chat_head)
        .order_by(m.id)
        .limit(bindparam("p_limit", type_=Integer()))
    )
    if lock_rows:
        candidates = candidates.with_for_update(skip_locked=True, of=m)
    return (
        update(m)
        .where(m.id.in_(candidates.scalar_subquery()))
        .values(
            status=spec.active,
            lease_until=bindparam("p_lease_until", type_=UTCDateTime()),
            claimed_by=bindparam("p_worker", type_=String()),
            attempts=m.attempts + 1,
        )
        .returning(*m.__table__.c)
    )


@cache
def _held_rows_sql(spec: QueueSpec, *, lock_rows: bool, release: bool) -> Any:
    """Renew (or, `release`, hand back as ready) the rows of `p_ids` this worker still holds.

    With `lock_rows` a row another transaction has locked is skipped, never waited for."""
    m = spec.model
    mine = (
        select(m.id)
        .where(
            m.id.in_(bindparam("p_ids", expanding=True)),
            m.claimed_by == bindparam("p_worker", type_=String()),
            m.status == spec.active,
        )
        .order_by(m.id)
    )
    if lock_rows:
        mine = mine.with_for_update(skip_locked=True, of=m)
    values: dict[str, Any] = (
        {"status": spec.ready, "claimed_by": None, "lease_until": None}
        if release
        else {"lease_until": bindparam("p_lease_until", type_=UTCDateTime())}
    )
    return update(m).where(m.id.in_(mine.scalar_subquery())).values(values).returning(m.id)


@cache
def _settle_sql(spec: QueueSpec, columns: tuple[str, ...]) -> Any:
    m = spec.model
    table = m.__table__
    return (
        update(m)
        .where(
            m.id == bindparam("p_id", type_=Integer()),
            m.claimed_by == bindparam("p_worker", type_=String()),
            m.status == spec.active,
        )
        .values(
            {name: bindparam(f"p_{name}", type_=table.c[name].type) for name in columns},
        )
    )


async def extend(db: Database, spec: QueueSpec, row_id: int, worker_id: str, lease: float) -> bool:
    """Renew a lease the caller still holds; False means it was lost (taken over)."""
    async with db.single_statement() as conn:
        until = utcnow() + timedelta(seconds=lease)
        return await settle(conn, spec, row_id, worker_id, lease_until=until)


async def renew_leases(
    db: Database, spec: QueueSpec, row_ids: Sequence[int], worker_id: str, lease: float
) -> set[int]:
    """The heartbeat: extend the leases this worker still holds on `row_ids`; returns the ids
    renewed.

    On PostgreSQL a row another transaction has locked is skipped, not waited for: the lock is
    a settle of that very row in progress (finishing a turn, a "sent" mark), which ends the
    lease anyway. Waiting would be worse than useless: this one statement locks many rows while
    a finishing transaction locks several of the same in another order, and PostgreSQL breaks
    such a deadlock by failing one of them (seen in the three-worker fault test: a batch of
    finished turns rolled back and run again)."""
    until = utcnow() + timedelta(seconds=lease)
    return await _update_held(db, spec, row_ids, worker_id, release=False, p_lease_until=until)


async def release_leases(
    db: Database, spec: QueueSpec, row_ids: Sequence[int], worker_id: str
) -> set[int]:
    """At shutdown: hand the rows this worker still holds back as ready, so another process
    takes them at once instead of after the lease; returns the ids released.

    Rows locked by another transaction are skipped for the reason `renew_leases` gives (a
    finishing batch may still be writing when the loop stops); such a row is either settled by
    that batch or, if the batch fails, claimable again when its lease runs out."""
    return await _update_held(db, spec, row_ids, worker_id, release=True)


async def _update_held(
    db: Database,
    spec: QueueSpec,
    row_ids: Sequence[int],
    worker_id: str,
    *,
    release: bool,
    **params: Any,
) -> set[int]:
    if not row_ids:
        return set()
    async with db.control_statement() as conn:
        result = await conn.execute(
            _held_rows_sql(spec, lock_rows=not db.is_sqlite, release=release),
            {"p_ids": list(row_ids), "p_worker": worker_id, **params},
        )
        return {row.id for row in result}


async def settle(
    conn: AsyncConnection, spec: QueueSpec, row_id: int, worker_id: str, **values: Any
) -> bool:
    """Fenced write inside the caller's transaction: applies only while the lease is ours.

    Final writes clear the lease; a renewal (`extend`) passes a new `lease_until` instead."""
    values.setdefault("lease_until", None)
    columns = tuple(sorted(values))
    params = {f"p_{name}": value for name, value in values.items()}
    params["p_id"], params["p_worker"] = row_id, worker_id
    result = await conn.execute(_settle_sql(spec, columns), params)
    return result.rowcount == 1


async def settle_many(
    st: Statements, spec: QueueSpec, items: Sequence[tuple[int, str, dict[str, Any]]]
) -> set[int]:
    """`settle` for many `(row id, worker id, values)` at once, one statement per distinct
    (worker, values): returns the ids whose lease was still ours (and were written)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row_id, worker_id, values in items:
        key = (worker_id, *sorted({"lease_until": None, **values}.items()))
        groups.setdefault(key, []).append(row_id)
    written: set[int] = set()
    for (worker_id, *pairs), ids in groups.items():
        params = {f"p_{name}": value for name, value in pairs}
        params["p_ids"], params["p_worker"] = ids, worker_id
        sql = _settle_many_sql(spec, tuple(name for name, _ in pairs), st.pg is not None)
        written.update(row.id for row in await st.rows(sql, params))
    return written


async def settle_each(
    st: Statements, spec: QueueSpec, items: Sequence[tuple[int, str, dict[str, Any]]]
) -> None:
    """`settle` for many rows with values of their own (one executemany per set of columns).
    Fenced like `settle`, but it cannot tell which rows were no longer ours."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, worker_id, values in items:
        values = {"lease_until": None, **values}
        params = {f"p_{name}": value for name, value in values.items()}
        params["p_id"], params["p_worker"] = row_id, worker_id
        groups.setdefault(tuple(sorted(values)), []).append(params)
    for columns, many in groups.items():
        await st.execute_many(_settle_sql(spec, columns), many)


@cache
def _settle_many_sql(spec: QueueSpec, columns: tuple[str, ...], array: bool) -> Any:
    """`array`: the ids as one PostgreSQL array parameter (`= ANY`), so the statement text is
    the same for any number of ids and is prepared once; SQLite expands an IN list."""
    m = spec.model
    table = m.__table__
    ids = (
        m.id == any_(bindparam("p_ids", type_=ARRAY(m.id.type)))
        if array
        else m.id.in_(bindparam("p_ids", expanding=True))
    )
    return (
        update(m)
        .where(
            ids,
            m.claimed_by == bindparam("p_worker", type_=String()),
            m.status == spec.active,
        )
        .values({name: bindparam(f"p_{name}", type_=table.c[name].type) for name in columns})
        .returning(m.id)
    )


async def retry_later(
    db: Database, spec: QueueSpec, row_id: int, worker_id: str, delay: float, error: str
) -> bool:
    async with db.single_statement() as conn:
        return await settle(
            conn,
            spec,
            row_id,
            worker_id,
            status=spec.ready,
            claimed_by=None,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            last_error=error[:2000],
        )


async def depth(db: Database, spec: QueueSpec) -> tuple[int, float]:
    """Rows waiting or in flight, and the age in seconds of the oldest one."""
    m = spec.model
    async with db.session() as session:
        row = (
            await session.execute(
                select(func.count(m.id), func.min(m.id)).where(
                    m.status.in_((spec.ready, spec.active))
                )
            )
        ).one()
        # Indexed, not unpacked: mypy types the items of an unpacked `Row[*tuple[Any, ...]]`
        # as object.
        count, oldest = row[0], row[1]
        age = 0.0
        if oldest is not None:
            created = await session.scalar(select(_created(m)).where(m.id == oldest))
            if created is not None:
                age = max(0.0, (utcnow() - created).total_seconds())
        return int(count), age


def _created(m: Any) -> Any:
    return getattr(m, "created_at", None) or m.received_at
