"""Proactive messages: the app reaches one of its users on a channel they linked.

The message goes where `identity.reach` says the user can be reached now (the linked identity
they were heard from most recently, or the channel the caller names), into the outbox like any
reply, so it is paced, retried and delivered once by whichever process runs the sender. Refused
with `Undeliverable` when there is nowhere to send it (no linked identity, opted out, outside the
channel's customer-service window).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from channels.capabilities import capabilities
from gateway.storage import outbox
from gateway.storage.db import Database
from gateway.storage.db.models import utcnow
from identity.reach import reach_user
from identity.store import IdentityStore


@dataclass(frozen=True)
class Queued:
    id: str
    app_user_id: str
    channel: str
    sender: str
    parts: int
    queued_at: datetime


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
    # Split by what the route carries (its declared capabilities, `ADAPTERS[route].capabilities`):
    # WhatsApp through Twilio gets Twilio's 1600-character body, like SMS.
    parts = capabilities(reach.route).split(text)
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
