"""Proactive messages: the app reaches one of its users on a channel they linked.

The message goes to the linked identity the user was heard from most recently (or the channel the
caller names), into the outbox like any reply, so it is paced, retried and delivered once by
whichever process runs the sender. Refused, with a reason, when there is nowhere to send it: no
linked identity (on that channel), the number opted out of SMS, or WhatsApp's 24-hour
customer-service window is closed (free-form messages are only allowed within 24 hours of the
user's last message).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from channels.textsplit import split_text
from gateway.delivery import optouts
from gateway.storage import outbox
from gateway.storage.db import Database
from gateway.storage.db.models import ChannelAccount, Project, utcnow
from identity.store import IdentityError, IdentityStore, Link

WHATSAPP_WINDOW = timedelta(hours=24)
_LIMITS = {"telegram": 4096, "sms": 1600, "whatsapp": 4096}


class Undeliverable(Exception):
    """Nowhere to send it; `code` says why (no_linked_channel, opted_out, outside_window)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Queued:
    id: str
    app_user_id: str
    channel: str
    sender: str
    parts: int
    queued_at: datetime


@dataclass(frozen=True)
class Reach:
    """Where an app user can be reached now: the linked identity and the route to it."""

    project_id: int
    channel: str
    sender: str
    route: str
    account: str
    chat: str


async def reach_user(
    db: Database,
    identity: IdentityStore,
    project: str,
    app_user_id: str,
    *,
    channel: str | None = None,
) -> Reach:
    """The linked identity the user was heard from most recently (or on `channel`); raises
    `Undeliverable` when there is none, the number opted out, or WhatsApp's window is closed."""
    links = await identity.list(project, app_user_id=app_user_id, channel=channel)
    if not links:
        where = f" on {channel}" if channel else ""
        raise Undeliverable("no_linked_channel", f"{app_user_id!r} has no linked identity{where}")
    link = max(links, key=_recency)
    async with db.session() as session:
        owner = await session.scalar(select(Project).where(Project.name == project))
        if owner is None:
            raise IdentityError("not_found", f"no project named {project!r}")
        route, account, chat = await _destination(session, owner.id, link)
    if link.channel == "sms" and await optouts.is_opted_out(db, owner.id, "sms", chat):
        raise Undeliverable("opted_out", f"{link.sender} opted out of SMS (STOP)")
    if link.channel == "whatsapp" and (
        link.last_inbound_at is None or utcnow() - link.last_inbound_at > WHATSAPP_WINDOW
    ):
        raise Undeliverable(
            "outside_window",
            "outside the WhatsApp 24-hour window: the user has not written in the last 24 hours "
            "(only approved templates may be sent)",
        )
    return Reach(owner.id, link.channel, link.sender, route, account, chat)


async def send_to_user(
    db: Database,
    identity: IdentityStore,
    project: str,
    app_user_id: str,
    text: str,
    *,
    channel: str | None = None,
    actor: str,
) -> Queued:
    reach = await reach_user(db, identity, project, app_user_id, channel=channel)
    message_id = f"msg_{uuid.uuid4().hex[:24]}"
    parts = split_text(text, _LIMITS.get(reach.route, 1600), len)
    rows = outbox.rows(
        project_id=reach.project_id,
        channel=reach.route,
        account=reach.account,
        chat=reach.chat,
        parts=parts,
        dedupe_key=f"proactive:{project}:{message_id}",
        options={"proactive": message_id, "actor": actor},
    )
    async with db.statements() as st:
        await outbox.insert(db, st, rows)
    return Queued(message_id, app_user_id, reach.channel, reach.sender, len(parts), utcnow())


def _recency(link: Link) -> datetime:
    return link.last_inbound_at or link.created_at


async def _destination(session: object, project_id: int, link: Link) -> tuple[str, str, str]:
    """(route, account, chat): where the person was last heard from, else the project's first
    account of the link's channel (a link made by an operator before any message)."""
    if link.last_route and link.last_account and link.last_chat:
        return link.last_route, link.last_account, link.last_chat
    account = await session.scalar(  # type: ignore[attr-defined]
        select(ChannelAccount.account)
        .where(
            ChannelAccount.project_id == project_id,
            ChannelAccount.channel == link.channel,
            ChannelAccount.enabled.is_(True),
        )
        .order_by(ChannelAccount.id)
        .limit(1)
    )
    if account is None:
        raise Undeliverable(
            "no_linked_channel", f"the project has no enabled {link.channel} account to send from"
        )
    return link.channel, account, link.sender
