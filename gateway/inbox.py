"""The inbox: verified, normalized provider events, stored before the provider is answered.

Webhook requests hand their events to one `InboxWriter` per process, which writes whatever has
accumulated in one multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` (group commit): under
load one commit acknowledges hundreds of requests, and each request still gets its answer only
after its own row is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.exc import DataError

from gateway.db import Database
from gateway.db.models import InboxEvent, utcnow
from gateway.messages import InboundEvent
from gateway.queue import QueueSpec

INBOX = QueueSpec(model=InboxEvent, ready="pending", active="processing")
MAX_BATCH = 500
MAX_FLUSHES_IN_FLIGHT = 4

log = structlog.get_logger("gateway.inbox")


def event_key(project: str, event: InboundEvent) -> str:
    """The turn's idempotency key: stable across redeliveries, retries and restarts."""
    return f"gw:{project}:{event.channel}:{event.account}:{event.event_id}"


def chat_key(event: InboundEvent) -> str:
    return f"{event.channel}:{event.account}:{event.chat or '-'}"


@dataclass(frozen=True)
class Stored:
    event: InboundEvent
    inserted: bool


def _row(project_id: int, event: InboundEvent, request_id: str | None) -> dict[str, Any]:
    """Events the gateway never acts on (edits, unsupported updates) are recorded as `ignored`:
    kept for support, never claimed."""
    now = utcnow()
    return {
        "project_id": project_id,
        "channel": event.channel,
        "account": event.account,
        "event_id": event.event_id,
        "chat_key": chat_key(event),
        "kind": event.kind,
        "payload": event.model_dump(mode="json"),
        "status": "pending" if event.forwardable else "ignored",
        "attempts": 0,
        "next_attempt_at": now,
        "request_id": request_id,
        "received_at": now,
    }


_Key = tuple[int, str, str, str]


class InboxWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_FLUSHES_IN_FLIGHT)
        self._task: asyncio.Task[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._insert_sql = (
            db.insert(InboxEvent)
            .on_conflict_do_nothing(index_elements=["project_id", "channel", "account", "event_id"])
            .returning(
                InboxEvent.project_id, InboxEvent.channel, InboxEvent.account, InboxEvent.event_id
            )
        )

    async def store(
        self, project_id: int, events: Sequence[InboundEvent], request_id: str | None
    ) -> list[Stored]:
        """Durably record `events`; `inserted` is False for a redelivery (already stored).
        Raises the database's error if the batch could not be committed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="inbox-writer")
        loop = asyncio.get_running_loop()
        futures = []
        for event in events:
            future: asyncio.Future[bool] = loop.create_future()
            self._queue.append((_row(project_id, event, request_id), future))
            futures.append(future)
        self._wake.set()
        results = await asyncio.gather(*futures)
        return [Stored(event, inserted) for event, inserted in zip(events, results, strict=True)]

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                task = asyncio.create_task(self._flush(batch))
                self._flushes.add(task)
                task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        try:
            first: dict[_Key, dict[str, Any]] = {}
            for values, _ in batch:
                first.setdefault(_key(values), values)
            try:
                inserted = await self._insert(list(first.values()))
            except DataError:
                # One row the database refuses must not fail its neighbours: go row by row.
                inserted, failed = await self._insert_each(list(first.values()))
                for values, future in batch:
                    if _key(values) in failed and not future.done():
                        future.set_exception(failed[_key(values)])
        except Exception as exc:  # every waiter learns the batch failed; none is acknowledged
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._slots.release()
        claimed: set[_Key] = set()
        for values, future in batch:
            key = _key(values)
            new = key in inserted and key not in claimed
            claimed.add(key)
            if not future.done():
                future.set_result(new)

    async def _insert(self, rows: list[dict[str, Any]]) -> set[_Key]:
        async with self.db.engine.begin() as conn:
            result = await conn.execute(self._insert_sql, rows)
            return {tuple(row) for row in result}  # type: ignore[misc]

    async def _insert_each(
        self, rows: list[dict[str, Any]]
    ) -> tuple[set[_Key], dict[_Key, DataError]]:
        inserted: set[_Key] = set()
        failed: dict[_Key, DataError] = {}
        for row in rows:
            try:
                inserted |= await self._insert([row])
            except DataError as exc:
                failed[_key(row)] = exc
        return inserted, failed

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)


def _key(values: dict[str, Any]) -> _Key:
    return (values["project_id"], values["channel"], values["account"], values["event_id"])


__all__ = ["INBOX", "InboxWriter", "Stored", "chat_key", "event_key"]
