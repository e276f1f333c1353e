"""Parse a provider's request into events and store them in the inbox: the one path a webhook
delivery and a polled update (`gateway.web.polling`) both take, after any signature check."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy.exc import DataError

from channels.base import ChannelAdapter
from gateway.messages import InboundEvent, InboundRequest, WebhookRejected
from gateway.runtime import Runtime
from gateway.storage import inbox
from gateway.storage.inbox import Stored
from gateway.storage.projects import ProjectInfo

log = structlog.get_logger("gateway.webhooks")


async def store(
    runtime: Runtime,
    project: ProjectInfo,
    adapter: ChannelAdapter,
    inbound: InboundRequest,
    request_id: str | None,
) -> list[Stored]:
    """Store the request's events (a redelivered event is a `duplicate`, stored once) and wake
    the worker. Raises `WebhookRejected` when the request is the sender's fault (malformed,
    unstorable), the database's error when nothing could be stored."""
    channel = adapter.channel
    metrics = runtime.metrics.webhooks
    try:
        events, payloads = _storable(adapter, adapter.parse(inbound))
    except WebhookRejected:
        metrics.labels(channel, "malformed").inc()
        raise
    try:
        stored = await runtime.inbox_writer.store(project.id, events, request_id, payloads)
    except DataError:  # the database refuses this event's values: the sender's fault
        metrics.labels(channel, "malformed").inc()
        raise WebhookRejected(
            400, "unstorable_event", "the event's values cannot be stored"
        ) from None
    for item in stored:
        outcome = "accepted" if item.inserted else "duplicate"
        metrics.labels(channel, outcome).inc()
        log.info(
            f"inbox.{outcome}",
            event_key=inbox.event_key(project.name, item.event),
            kind=item.event.kind,
        )
    if any(item.inserted for item in stored):
        runtime.wake_worker()
    return stored


UNSTORABLE = "the item has NUL characters or invalid Unicode"


def _storable(
    adapter: ChannelAdapter, events: Sequence[InboundEvent]
) -> tuple[list[InboundEvent], list[dict[str, Any]]]:
    """The events and their JSON form. One that cannot be stored is refused with its request
    (400), except in a batch (`adapter.batches`): there it is recorded as unsupported, without
    its content, and its siblings are stored."""
    kept: list[InboundEvent] = []
    payloads: list[dict[str, Any]] = []
    for event in events:
        payload = event.storable_payload()
        if payload is None:
            log.warning("webhook.unstorable_item", channel=adapter.channel, kind=event.kind)
            if not adapter.batches:
                raise WebhookRejected(400, "unstorable_text", UNSTORABLE)
            event, payload = _unstorable_record(event)
        kept.append(event)
        payloads.append(payload)
    return kept, payloads


def _unstorable_record(event: InboundEvent) -> tuple[InboundEvent, dict[str, Any]]:
    """What is kept of an event that cannot be stored: that it arrived, its ids when they can
    be stored, and why the rest is not."""
    hints = {"reason": UNSTORABLE, "received_kind": event.kind}
    record = InboundEvent(
        channel=event.channel,
        account=event.account,
        event_id=event.event_id,
        kind="unsupported",
        sender=event.sender,
        chat=event.chat,
        hints=hints,
    )
    payload = record.storable_payload()
    if payload is None:  # the ids themselves: a stable id from them, no chat
        digest = hashlib.sha256(event.event_id.encode("utf-8", "surrogatepass")).hexdigest()
        record = InboundEvent(
            channel=event.channel,
            account=event.account,
            event_id=f"unstorable:{digest[:40]}",
            kind="unsupported",
            hints=hints,
        )
        payload = record.model_dump(mode="json")
    return record, payload
