"""Choosing where to reach an app user: the linked identity they were heard from most recently (or
the channel the caller names) and the route to it.

Refused, with a reason, when there is nowhere to send: no linked identity (on that channel), the
number opted out (channels with carrier keywords: SMS), or the channel's customer-service window
is closed (WhatsApp: free-form messages only within 24 hours of the user's last message).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from channels.capabilities import Capabilities, capabilities
from gateway.storage import optouts
from gateway.storage.db import Database
from gateway.storage.db.models import ChannelAccount, Project, utcnow
from identity.store import IdentityError, IdentityStore, Link


class Undeliverable(Exception):
    """Nowhere to send it; `code` says why (no_linked_channel, opted_out, outside_window)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


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
    `Undeliverable` when there is none, the number opted out, or the channel's window is closed."""
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
    caps = capabilities(link.channel)
    if caps.carrier_keywords and await optouts.is_opted_out(db, owner.id, link.channel, chat):
        raise Undeliverable("opted_out", f"{link.sender} opted out of {caps.name} (STOP)")
    silence = None if link.last_inbound_at is None else utcnow() - link.last_inbound_at
    if not caps.allows_send_after(silence):
        raise Undeliverable("outside_window", _outside_window(caps))
    return Reach(owner.id, link.channel, link.sender, route, account, chat)


def _outside_window(caps: Capabilities) -> str:
    assert caps.service_window is not None
    hours = round(caps.service_window.total_seconds() / 3600)
    return (
        f"outside the {caps.name} {hours}-hour window: the user has not written in the last "
        f"{hours} hours (only approved templates may be sent)"
    )


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
