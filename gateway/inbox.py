"""The inbox: verified, normalized provider events, stored before the provider is answered."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.db import Database
from gateway.db.models import InboxEvent
from gateway.messages import InboundEvent
from gateway.queue import QueueSpec

INBOX = QueueSpec(model=InboxEvent, ready="pending", active="processing")


def event_key(project: str, event: InboundEvent) -> str:
    """The turn's idempotency key: stable across redeliveries, retries and restarts."""
    return f"gw:{project}:{event.channel}:{event.account}:{event.event_id}"


def chat_key(event: InboundEvent) -> str:
    return f"{event.channel}:{event.account}:{event.chat or '-'}"


@dataclass(frozen=True)
class Stored:
    event: InboundEvent
    inserted: bool


async def store(
    db: Database, project_id: int, events: list[InboundEvent], request_id: str | None
) -> list[Stored]:
    """Insert events; a redelivered event hits the unique key and is reported as a duplicate.

    Events the gateway never acts on (edits, unsupported updates) are recorded as `ignored` so they
    are kept for support but never claimed.
    """
    results: list[Stored] = []
    async with db.session() as session, session.begin():
        for event in events:
            stmt = (
                db.insert(InboxEvent)
                .values(
                    project_id=project_id,
                    channel=event.channel,
                    account=event.account,
                    event_id=event.event_id,
                    chat_key=chat_key(event),
                    kind=event.kind,
                    payload=event.model_dump(mode="json"),
                    status="pending" if event.forwardable else "ignored",
                    attempts=0,
                    request_id=request_id,
                )
                .on_conflict_do_nothing(
                    index_elements=["project_id", "channel", "account", "event_id"]
                )
                .returning(InboxEvent.id)
            )
            inserted = (await session.execute(stmt)).first() is not None
            results.append(Stored(event, inserted))
    return results
