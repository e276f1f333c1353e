"""The inbox: verified, normalized provider events, stored before the provider is answered.

Webhook requests hand their events to one `InboxWriter` per process, which writes whatever has
accumulated in one multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` (group commit, see
`gateway.storage.batching`): under
load one commit acknowledges hundreds of requests, and each request still gets its answer only
after its own row is durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import DataError

from gateway.messages import InboundEvent
from gateway.storage.batching import GroupCommit
from gateway.storage.db import INGEST_POOL_SIZE, Database
from gateway.storage.db.models import InboxEvent, utcnow
from gateway.storage.db.raw import BulkInsert
from gateway.storage.queue import QueueSpec

INBOX = QueueSpec(model=InboxEvent, ready="pending", active="processing")
MAX_BATCH = 500
MAX_FLUSHES_IN_FLIGHT = INGEST_POOL_SIZE  # one connection of the webhooks' pool each

log = structlog.get_logger("gateway.storage.inbox")


def event_key(project: str, event: InboundEvent) -> str:
    """The turn's idempotency key: stable across redeliveries, retries and restarts."""
    return f"gw:{project}:{event.channel}:{event.account}:{event.event_id}"


def chat_key(event: InboundEvent) -> str:
    """Events of one chat are handled one at a time, in order. A delivery status queues behind
    the other statuses of its message, never behind the chat's turns."""
    if event.kind == "status":
        return f"{event.route}:{event.account}:status:{event.hints.get('provider_message_id')}"
    return f"{event.channel}:{event.account}:{event.chat or '-'}"


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """What a turn keeps of its claimed inbox row: everything but the payload, which is decoded
    into the turn's `InboundEvent` once. Keeping the row as well would hold the event's JSON
    twice for as long as the turn waits (seconds on a real core, thousands of turns at once)."""

    id: int
    attempts: int
    chat_key: str
    received_at: datetime
    request_id: str | None = None
    last_error: str | None = None

    @classmethod
    def of(cls, row: Any) -> ClaimedEvent:
        """From a claimed `inbox_events` row (as the claim returns it)."""
        return cls(
            row.id, row.attempts, row.chat_key, row.received_at, row.request_id, row.last_error
        )


@dataclass(frozen=True)
class Stored:
    event: InboundEvent
    inserted: bool


def inbox_row(
    project_id: int, event: InboundEvent, request_id: str | None, payload: dict[str, Any] | None
) -> dict[str, Any]:
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
        "payload": payload if payload is not None else event.model_dump(mode="json"),
        "status": "pending" if event.actionable else "ignored",
        "attempts": 0,
        "next_attempt_at": now,
        "request_id": request_id,
        "received_at": now,
    }


_Key = tuple[int, str, str, str]
INBOX_COLUMNS = (
    "project_id",
    "channel",
    "account",
    "event_id",
    "chat_key",
    "kind",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "request_id",
    "received_at",
)
"""What `inbox_row` fills in (one multi-row insert needs every row to name the same columns)."""


class InboxWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._bulk = BulkInsert(
            InboxEvent.__table__,
            INBOX_COLUMNS,
            lambda insert: insert.on_conflict_do_nothing(
                index_elements=["project_id", "channel", "account", "event_id"]
            ).returning(
                InboxEvent.project_id, InboxEvent.channel, InboxEvent.account, InboxEvent.event_id
            ),
        )
        self._commits: GroupCommit[dict[str, Any], bool] = GroupCommit(
            "inbox", self._flush, max_batch=MAX_BATCH, max_in_flight=MAX_FLUSHES_IN_FLIGHT
        )

    async def store(
        self,
        project_id: int,
        events: Sequence[InboundEvent],
        request_id: str | None,
        payloads: Sequence[dict[str, Any]] | None = None,
    ) -> list[Stored]:
        """Durably record `events` (`payloads`: their JSON form, when the caller has it);
        `inserted` is False for a redelivery (already stored). Raises the database's error if
        the batch could not be committed."""
        given = payloads if payloads is not None else [None] * len(events)
        rows = [
            inbox_row(project_id, event, request_id, payload)
            for event, payload in zip(events, given, strict=True)
        ]
        results = await self._commits.submit_many(rows)
        return [Stored(event, inserted) for event, inserted in zip(events, results, strict=True)]

    async def _flush(self, batch: list[dict[str, Any]]) -> list[bool | BaseException]:
        first: dict[_Key, dict[str, Any]] = {}
        for values in batch:
            first.setdefault(_key(values), values)
        failed: dict[_Key, DataError] = {}
        try:
            inserted = await self._insert(list(first.values()))
        except DataError:
            # One row the database refuses must not fail its neighbours: go row by row.
            inserted, failed = await self._insert_each(list(first.values()))
        results: list[bool | BaseException] = []
        claimed: set[_Key] = set()
        for values in batch:
            key = _key(values)
            if key in failed:
                results.append(failed[key])
                continue
            results.append(key in inserted and key not in claimed)  # a repeat in one batch: old
            claimed.add(key)
        return results

    async def _insert(self, rows: list[dict[str, Any]]) -> set[_Key]:
        # One statement: on PostgreSQL it runs in autocommit (atomic on its own), one round
        # trip instead of BEGIN, INSERT, COMMIT, on the webhooks' own connections.
        async with self.db.statements(transaction=False, ingest=True) as st:
            return {tuple(row) for row in await self._bulk.rows(st, rows)}

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
        await self._commits.close()


def _key(values: dict[str, Any]) -> _Key:
    return (values["project_id"], values["channel"], values["account"], values["event_id"])


__all__ = ["INBOX", "InboxWriter", "Stored", "chat_key", "event_key", "inbox_row"]
