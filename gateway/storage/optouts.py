"""Carrier opt-out keywords (STOP / START / HELP) and the opt-out list, for channels whose
capabilities say `carrier_keywords` (SMS).

Carriers require honouring STOP: once a number opts out nothing more is sent to it and nothing it
sends is forwarded, until START (or UNSTOP). Twilio answers STOP on long codes itself and refuses
later sends with error 21610; the gateway keeps its own list so it never tries, and also learns
opt-outs from that error.
"""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import Integer, String, bindparam, delete, select

from gateway.storage.db import Database
from gateway.storage.db.models import OptOut, utcnow

Keyword = Literal["stop", "start", "help"]

_KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"), "stop"
    ),
    **dict.fromkeys(("START", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}
_NOISE = re.compile(r"[\s.!]+")

START_REPLY = "You're subscribed again. Reply STOP to stop, HELP for help."


def keyword(text: str | None) -> Keyword | None:
    """The keyword a whole message is (case, spaces and trailing dots/bangs ignored)."""
    if not text or len(text) > 32:
        return None
    return _KEYWORDS.get(_NOISE.sub("", text).upper())


async def opt_out(db: Database, project_id: int, channel: str, address: str, source: str) -> None:
    row = {
        "project_id": project_id,
        "channel": channel,
        "address": address,
        "source": source,
        "created_at": utcnow(),
    }
    stmt = db.insert(OptOut).on_conflict_do_nothing(
        index_elements=["project_id", "channel", "address"]
    )
    async with db.engine.begin() as conn:
        await conn.execute(stmt, row)


async def opt_in(db: Database, project_id: int, channel: str, address: str) -> bool:
    async with db.engine.begin() as conn:
        result = await conn.execute(_DELETE, _params(project_id, channel, address))
        return bool(result.rowcount)


async def is_opted_out(db: Database, project_id: int, channel: str, address: str) -> bool:
    async with db.engine.connect() as conn:
        return await conn.scalar(_FIND, _params(project_id, channel, address)) is not None


def _params(project_id: int, channel: str, address: str) -> dict[str, object]:
    return {"p_project": project_id, "p_channel": channel, "p_address": address}


_WHERE = (
    OptOut.project_id == bindparam("p_project", type_=Integer()),
    OptOut.channel == bindparam("p_channel", type_=String()),
    OptOut.address == bindparam("p_address", type_=String()),
)
_FIND = select(OptOut.id).where(*_WHERE)
_DELETE = delete(OptOut).where(*_WHERE)
