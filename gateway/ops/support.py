"""Support: the whole story of one turn, found by any id a person may hold.

A user-visible problem comes with some id: the response or trace id from the core, the gateway's
request id (logs), the provider's message id (Telegram update id, Twilio `MessageSid`, WhatsApp
`wamid`, or the id of a reply we sent), or the `ref` number of an apology. `find` maps any of them
to the inbound event; `story` gathers the event, identity, core call, approvals and every send
with its delivery status. Phone numbers are masked and free text is scrubbed of secrets, so the
result can go into a ticket as is (`gateway support-bundle`). A bundle also names the builds on
both sides (`versions`): the gateway's, and what the project's core says of its own now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.capabilities import mask_address
from gateway.logs import scrub
from gateway.storage.db import Database
from gateway.storage.db.models import (
    Approval,
    InboxEvent,
    OutboundMessage,
    Project,
    Turn,
    WebhookDelivery,
)
from gateway.version import core_report, gateway_build, probe_core


async def find(db: Database, ident: str, project: str | None = None) -> int | None:
    """The inbox event id of the turn `ident` belongs to, or None."""
    ident = ident.strip()
    if not ident or len(ident) > 200:
        return None
    async with db.session() as session:
        project_id = await _project_id(session, project)
        for query in _lookups(ident):
            if project_id is not None:
                query = query.where(InboxEvent.project_id == project_id)
            found = await session.scalar(query.limit(1))
            if found is not None:
                return int(found)
    return None


def _lookups(ident: str) -> list[Any]:
    by_turn = (
        select(InboxEvent.id)
        .join(Turn, Turn.inbox_event_id == InboxEvent.id)
        .where(or_(Turn.response_id == ident, Turn.trace_id == ident, Turn.request_id == ident))
    )
    by_event = select(InboxEvent.id).where(
        or_(InboxEvent.request_id == ident, InboxEvent.event_id == ident)
    )
    by_reply = (
        select(InboxEvent.id)
        .join(OutboundMessage, OutboundMessage.inbox_event_id == InboxEvent.id)
        .where(OutboundMessage.provider_message_id == ident)
    )
    by_approval = (
        select(InboxEvent.id)
        .join(Approval, Approval.inbox_event_id == InboxEvent.id)
        .where(Approval.id == ident)
    )
    lookups = [by_turn, by_event, by_reply, by_approval]
    ref = ident.removeprefix("ref").strip()
    if ref.isdigit() and len(ref) < 19:  # the `(ref 123)` of an apology is the inbox id
        lookups.append(select(InboxEvent.id).where(InboxEvent.id == int(ref)))
    return lookups


async def _project_id(session: AsyncSession, project: str | None) -> int | None:
    if project is None:
        return None
    found = await session.scalar(select(Project.id).where(Project.name == project))
    return int(found) if found is not None else -1


async def story(db: Database, inbox_id: int) -> dict[str, Any]:
    async with db.session() as session:
        event = await session.get(InboxEvent, inbox_id)
        if event is None:
            raise LookupError(f"no inbox event {inbox_id}")
        project = await session.get(Project, event.project_id)
        turn = await session.scalar(select(Turn).where(Turn.inbox_event_id == inbox_id))
        sends = (
            await session.scalars(
                select(OutboundMessage)
                .where(OutboundMessage.inbox_event_id == inbox_id)
                .order_by(OutboundMessage.id)
            )
        ).all()
        approvals = await _approvals(session, event, turn)
    payload = event.payload or {}
    channel = event.channel
    return {
        "project": project.name if project else None,
        "inbound": {
            "inbox_id": event.id,
            "channel": channel,
            "account": event.account,
            "provider_event_id": event.event_id,
            "kind": event.kind,
            "sender": mask_address(channel, payload.get("sender")),
            "chat": mask_address(channel, payload.get("chat")),
            "text": _text(payload.get("text")),
            "request_id": event.request_id,
            "received_at": _time(event.received_at),
            "status": event.status,
            "attempts": event.attempts,
            "processed_at": _time(event.processed_at),
            "last_error": _text(event.last_error),
        },
        "identity": (
            {
                "user": _user(turn.user_ref),
                "linked": turn.identity_linked,
            }
            if turn
            else None
        ),
        "core": _core(turn),
        "approvals": approvals,
        "outbound": [_send(row) for row in sends],
    }


async def versions(db: Database, project: str | None, default_core_url: str) -> dict[str, Any]:
    """The gateway's build and the core's, as its `GET /health` (or its headers) say now.

    The project's own core when it has one, else the default (`GENAUG_API_BASE_URL`); "unknown"
    when the core does not answer or does not say.
    """
    async with db.session() as session:
        url = (
            await session.scalar(select(Project.core_base_url).where(Project.name == project))
            if project is not None
            else None
        )
    return {
        "gateway": gateway_build(),
        "core": core_report(await probe_core(url or default_core_url)),
    }


async def _approvals(
    session: AsyncSession, event: InboxEvent, turn: Turn | None
) -> list[dict[str, Any]]:
    """Approvals this turn asked for, or (a continuation turn) the ones it answered, each with
    its decision and the delivery of its lifecycle events."""
    resumed = (event.payload or {}).get("hints", {}).get("response_id")
    if event.kind == "resume" and resumed:
        where = Approval.response_id == str(resumed)
    else:
        where = Approval.inbox_event_id == event.id
    rows = (
        await session.scalars(
            select(Approval)
            .where(Approval.project_id == event.project_id, where)
            .order_by(Approval.created_at, Approval.id)
        )
    ).all()
    found = []
    for row in rows:
        deliveries = (
            await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.approval_id == row.id)
                .order_by(WebhookDelivery.id)
            )
        ).all()
        found.append(
            {
                "id": row.id,
                "status": row.status,
                "tool": row.tool,
                "summary": _text(row.summary),
                "app_user": _user(row.app_user_id),
                "channel": row.channel,
                "prompted_at": mask_address(row.channel or "", row.chat),
                "decided_by": _actor(row.decided_by),
                "decision_source": row.decision_source,
                "created_at": _time(row.created_at),
                "expires_at": _time(row.expires_at),
                "decided_at": _time(row.decided_at),
                "core_request_id": row.core_request_id,
                "webhook_events": [
                    {
                        "event_id": d.event_id,
                        "type": d.event_type,
                        "status": d.status,
                        "attempts": d.attempts,
                        "last_status": d.last_status,
                        "last_error": _text(d.last_error),
                    }
                    for d in deliveries
                ],
            }
        )
    return found


def _actor(actor: str | None) -> str | None:
    """`sms:+14155550123` -> `sms:+*******0123`."""
    if not actor or ":" not in actor:
        return actor
    channel, _, who = actor.partition(":")
    return f"{channel}:{mask_address(channel, who)}"


def _core(turn: Turn | None) -> dict[str, Any] | None:
    if turn is None:
        return None
    return {
        "status": turn.status,
        "http_status": turn.http_status,
        "request_id": turn.request_id,
        "response_id": turn.response_id,
        "trace_id": turn.trace_id,
        "previous_response_id": turn.previous_response_id,
        "conversation": turn.conversation,
        "model": turn.model,
        "usage": turn.usage,
        "cost": turn.cost,
        "latency_ms": turn.latency_ms,
        "error": _text(turn.error),
        "reason": turn.reason,
        "completed_at": _time(turn.completed_at),
    }


def _send(row: OutboundMessage) -> dict[str, Any]:
    return {
        "outbox_id": row.id,
        "channel": row.channel,
        "chat": mask_address(row.channel, row.chat),
        "status": row.status,
        "attempts": row.attempts,
        "provider_message_id": row.provider_message_id,
        "delivery_status": row.delivery_status,
        "delivery_error": row.delivery_error,
        "last_error": _text(row.last_error),
        "characters": len(row.text),
        "created_at": _time(row.created_at),
        "sent_at": _time(row.sent_at),
        "delivery_updated_at": _time(row.delivery_updated_at),
    }


def _user(user_ref: str) -> str:
    channel, sep, rest = user_ref.partition(":")
    return f"{channel}:{mask_address(channel, rest)}" if sep else user_ref


def _text(value: Any) -> Any:
    return scrub(value) if isinstance(value, str) else value


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
