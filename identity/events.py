"""The app is told of every change to who a sender is, so it can alert its user: `identity.linked`,
`identity.unlinked` and `identity.link_refused` (a wrong, expired, used or throttled code), queued
in the transaction of the change and delivered signed and retried like the approval events.

One sender's events are delivered in order (the order key is the sender, hashed under the
gateway's key: a refusal may name no app user). Phone numbers are masked to their last 4 digits;
Telegram ids are not phone numbers and stay as they are.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from channels.capabilities import mask_address
from gateway.storage import lifecycle
from gateway.storage.secrets import SecretBox

EventType = Literal["identity.linked", "identity.unlinked", "identity.link_refused"]
Source = Literal["link_code", "chat_command", "admin-api", "cli"]
"""How the change was asked for: a code redeemed in the chat, `/unlink` / `UNLINK` typed there,
the admin API, the CLI."""

Sender = tuple[int, str, str]


def source_of(actor: str) -> Source:
    """An operator's change: from the CLI, else the admin API (its actor may name the key)."""
    return "cli" if actor.split(":", 1)[0] == "cli" else "admin-api"


async def queue(
    conn: AsyncConnection,
    box: SecretBox,
    sender: Sender,
    event_type: EventType,
    *,
    source: Source,
    actor: str,
    app_user_id: str | None,
    reason: str | None = None,
    previous_app_user_id: str | None = None,
) -> None:
    """Queue one event for the project's webhook (nothing when it has none)."""
    project_id, channel, address = sender
    target = await lifecycle.webhook_target(conn, project_id)
    if target is None:
        return
    project_name, _ = target
    subject = "link:" + box.derive("identity-events", f"{project_id}:{channel}:{address}")[:24]
    identity: dict[str, Any] = {
        "project": project_name,
        "channel": channel,
        "sender": mask_address(channel, address),
        "app_user_id": app_user_id,
        "source": source,
        "actor": _actor(actor, channel, address),
    }
    if reason is not None:
        identity["reason"] = reason
    if previous_app_user_id is not None:
        identity["previous_app_user_id"] = previous_app_user_id
    await lifecycle.enqueue(
        conn,
        project_id,
        event_type=event_type,
        subject=subject,
        order_key=subject,
        fields={"identity": identity},
    )


def _actor(actor: str, channel: str, address: str) -> str:
    """The sender itself (`chat:<channel>:<address>`) with its number masked."""
    if actor == f"chat:{channel}:{address}":
        return f"chat:{channel}:{mask_address(channel, address)}"
    return actor
