"""Delivery statuses reported by providers after a send (Twilio status callbacks, WhatsApp
`statuses`), recorded on the outbound message.

Callbacks arrive more than once and out of order; a status only ever moves forward
(queued < sending < sent < delivered|undelivered|failed < read), so a late `sent` never
overwrites `delivered`, and replaying a callback changes nothing.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, bindparam, case, select, update

from gateway.storage.db import Database
from gateway.storage.db.models import OutboundMessage, UTCDateTime, utcnow

RANK = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


async def record(
    db: Database,
    project_id: int,
    route: str,
    account: str,
    provider_message_id: str,
    status: str,
    error: str | None,
) -> bool | None:
    """Move the message's delivery status forward. True: moved; False: it already was at or
    past `status`; None: no outbound message of this account has this id (yet: the callback may
    beat the commit of the send that produced it).

    Only the account the report arrived for is searched: provider ids are unique per provider
    account, not across them, so another tenant's message with the same id is never touched."""
    rank = RANK.get(status)
    if rank is None:
        return False  # statuses that describe inbound messages (received, ...) or unknown ones
    params = {
        "p_project": project_id,
        "p_route": route,
        "p_account": account,
        "p_id": provider_message_id,
        "p_status": status,
        "p_rank": rank,
        "p_error": (error or None) and str(error)[:64],
        "p_now": utcnow(),
    }
    async with db.engine.begin() as conn:
        if (await conn.execute(_ADVANCE, params)).rowcount:
            return True
        known = await conn.scalar(_KNOWN, params)
        return False if known is not None else None


_CURRENT_RANK = case(
    *((OutboundMessage.delivery_status == name, rank) for name, rank in RANK.items()),
    else_=0,
)
_MATCH = (
    OutboundMessage.provider_message_id == bindparam("p_id", type_=String()),
    OutboundMessage.channel == bindparam("p_route", type_=String()),
    OutboundMessage.account == bindparam("p_account", type_=String()),
    OutboundMessage.project_id == bindparam("p_project", type_=Integer()),
)
_ADVANCE = (
    update(OutboundMessage)
    .where(*_MATCH, bindparam("p_rank", type_=Integer()) > _CURRENT_RANK)
    .values(
        delivery_status=bindparam("p_status", type_=String()),
        delivery_error=bindparam("p_error", type_=String()),
        delivery_updated_at=bindparam("p_now", type_=UTCDateTime()),
    )
)
_KNOWN = select(OutboundMessage.id).where(*_MATCH).limit(1)
