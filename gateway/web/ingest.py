"""Parse a provider's request into events and store them in the inbox: the one path a webhook
delivery and a polled update (`gateway.web.polling`) both take, after any signature check."""

from __future__ import annotations

import structlog
from sqlalchemy.exc import DataError

from channels.base import ChannelAdapter
from gateway.messages import InboundRequest, WebhookRejected
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
        events = adapter.parse(inbound)
    except WebhookRejected:
        metrics.labels(channel, "malformed").inc()
        raise
    payloads = [event.storable_payload() for event in events]
    if not all(payload is not None for payload in payloads):
        metrics.labels(channel, "malformed").inc()
        raise WebhookRejected(
            400, "unstorable_text", "the payload has NUL characters or invalid Unicode"
        )
    try:
        stored = await runtime.inbox_writer.store(
            project.id,
            events,
            request_id,
            payloads,  # type: ignore[arg-type]
        )
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
