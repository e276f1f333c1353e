"""Queueing the app's lifecycle events: one `webhook_deliveries` row per event, written in the
caller's transaction (the event exists exactly when the change it tells of is committed).

Approvals (`approval.*`) and identity links (`identity.*`) queue their events here; the signed,
retried delivery of the rows is `approvals.webhooks`. The body is stored as sent: the signature is
computed over these exact bytes on every attempt.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.db.models import Project, WebhookDelivery, utcnow

SUBJECT_LENGTH = 40
"""`webhook_deliveries.approval_id` holds the event's subject (an approval id, or `link:<hash>`)."""


async def webhook_target(conn: AsyncConnection, project_id: int) -> tuple[str, str] | None:
    """(project name, webhook URL), or None when the project has no lifecycle webhook."""
    found = (
        await conn.execute(
            select(Project.name, Project.approval_webhook_url).where(Project.id == project_id)
        )
    ).first()
    if found is None or not found.approval_webhook_url:
        return None
    return found.name, found.approval_webhook_url


async def enqueue(
    conn: AsyncConnection,
    project_id: int,
    *,
    event_type: str,
    subject: str,
    order_key: str,
    fields: dict[str, Any],
) -> str:
    """Queue one event (`{event_id, type, created_at, **fields}`) for the project's webhook
    (callers ask `webhook_target` first: a project without one gets no rows); returns the event
    id. Events with the same `order_key` are delivered in order, and a failing receiver holds
    back only that key's later events."""
    assert len(subject) <= SUBJECT_LENGTH, subject
    now = utcnow()
    event_id = f"evt_{uuid.uuid4().hex}"
    body = {
        "event_id": event_id,
        "type": event_type,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        **fields,
    }
    await conn.execute(
        insert(WebhookDelivery),
        {
            "project_id": project_id,
            "approval_id": subject,
            "event_id": event_id,
            "event_type": event_type,
            "body": json.dumps(body, separators=(",", ":"), sort_keys=True),
            "chat_key": order_key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    return event_id
