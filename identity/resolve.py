"""Who is speaking in a chat: a sender resolved to the app user the core is given, or refused by
the project's unlinked-sender policy; and the link / unlink a sender asks for from the chat."""

from __future__ import annotations

import hashlib
import hmac

import structlog

from channels.capabilities import Capabilities
from gateway.messages import InboundEvent
from gateway.storage.projects import ProjectInfo
from identity import Identity
from identity import replies as identity_replies
from identity.store import Contact, IdentityStore, Sender

log = structlog.get_logger("identity.resolve")


def sender_of(project: ProjectInfo, event: InboundEvent) -> Sender:
    """The channel identity that wrote: (project, channel, address)."""
    return (project.id, event.channel, event.sender or event.chat or "-")


def opaque_user(salt: str, channel: str, address: str) -> str:
    """The core's `user` for an unlinked sender: stable (the project's salt is kept in the
    database, not derived from GATEWAY_SECRET_KEY, so a key rotation does not change it),
    opaque (never the phone number or chat id), and different in every project."""
    digest = hmac.new(salt.encode(), f"{channel}:{address}".encode(), hashlib.sha256)
    return "anon_" + digest.hexdigest()[:32]


def contact_of(event: InboundEvent, sender: Sender, caps: Capabilities) -> Contact:
    """Where to reach this person later: their private chat where the sender id is one (never a
    group); else the address they wrote from, through the account that received it."""
    chat = sender[2] if caps.private_chat_is_sender else (event.chat or sender[2])
    return Contact(sender, event.route, event.account, chat)


class SenderResolver:
    """The identity behaviour of a turn, over the identity store."""

    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    async def resolve(self, project: ProjectInfo, event: InboundEvent) -> Identity:
        """Linked senders speak as their app user; the others follow the project's policy."""
        sender = sender_of(project, event)
        app_user = await self.store.linked_user(sender)
        if app_user is not None:
            return Identity(app_user, linked=True)
        channel_user = Identity(
            opaque_user(project.user_salt, event.channel, sender[2]), linked=False
        )
        if project.unlinked_policy == "channel_user":
            return channel_user
        if project.unlinked_policy == "allowlist" and await self.store.allowed(sender):
            return channel_user
        if project.unlinked_policy == "allowlist":
            return Identity(None, linked=False, refusal=identity_replies.NOT_ALLOWED)
        return Identity(None, linked=False, refusal=identity_replies.how_to_link(event.channel))

    async def redeem(
        self, project: ProjectInfo, event: InboundEvent, code: str, caps: Capabilities
    ) -> str:
        """A link code typed in the chat: link the sender, answer what to tell them. A sender
        others share (`shared_sender`: a group's anonymous admins) is never linked: everyone
        writing that way would speak as the app user."""
        if event.hints.get("shared_sender"):
            log.info("identity.redeem", ok=False, reason="shared_sender")
            return identity_replies.SHARED_SENDER
        sender = sender_of(project, event)
        result = await self.store.redeem(sender, code, contact_of(event, sender, caps))
        log.info("identity.redeem", ok=result.app_user_id is not None, reason=result.reason)
        return identity_replies.redemption(result, event.channel)

    async def unlink(self, project: ProjectInfo, event: InboundEvent) -> str:
        removed = await self.store.unlink_sender(sender_of(project, event))
        return identity_replies.unlinked(removed, event.channel)
