"""Replaying a corpus fixture through the real routes, as the provider would post it, and reading
back what became of each item it carried."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from sqlalchemy import func, select

from gateway.storage.db.models import InboxEvent, OutboundMessage, Turn
from tests.auxil.harness import WEBHOOK_SECRET, Harness
from tests.corpus.model import Fixture, Outcome

SETTLE_SECONDS = 15.0
ACTIVE = ("pending", "processing")


async def replay(gw: Harness, channel: str, fixture: Fixture) -> tuple[int, list[Outcome]]:
    """Post `fixture` forged (it must be refused and change nothing), then signed; returns the
    signed post's HTTP status and the outcome of every item it stored, in order."""
    body = _prepared(gw, channel, fixture)
    before = await _last_inbox_id(gw)
    forged = await _post(gw, channel, fixture, body, forged=True)
    assert forged in (401, 403), f"{fixture.name}: a forged post got {forged}"
    assert await _last_inbox_id(gw) == before, f"{fixture.name}: a forged post was stored"
    status = await _post(gw, channel, fixture, body, forged=False)
    return status, await _outcomes(gw, before, fixture.name)


def _prepared(gw: Harness, channel: str, fixture: Fixture) -> dict[str, Any]:
    """The body with its files served by the fake provider (Twilio: `MediaUrl{N}` moved to the
    fake's origin, where the account's credentials go)."""
    fake: Any = {"telegram": gw.telegram, "whatsapp": gw.whatsapp, "twilio": gw.twilio}[channel]
    add = fake.add_file if channel == "telegram" else fake.add_media
    files = {
        file_id: add(data, mime, None, file_id)
        for file_id, (data, mime) in fixture.media.items()
        if fake.media.get(file_id) is None
    }
    files |= {file_id: fake.media.get(file_id) for file_id in fixture.media}
    body = json.loads(json.dumps(fixture.body))
    if channel == "twilio":
        for key, value in list(body.items()):
            if key.startswith("MediaUrl") and isinstance(value, str):
                file = files.get(value.rsplit("/", 1)[-1])
                if file is not None:
                    body[key] = gw.twilio.media_url(file)  # type: ignore[union-attr]
    return body


async def _post(
    gw: Harness, channel: str, fixture: Fixture, body: dict[str, Any], *, forged: bool
) -> int:
    if channel == "telegram":
        return (await gw.post_update(body, secret="forged" if forged else WEBHOOK_SECRET)).status
    if channel == "whatsapp":
        signature = "sha256=" + "0" * 64 if forged else None
        return (await gw.post_whatsapp(body, signature=signature))[0]
    signature = "Zm9yZ2Vk" if forged else None
    return (await gw.post_twilio(body, status=fixture.status_route, signature=signature))[0]


async def _last_inbox_id(gw: Harness) -> int:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        return int(await session.scalar(select(func.coalesce(func.max(InboxEvent.id), 0))) or 0)


async def _outcomes(gw: Harness, after: int, name: str) -> list[Outcome]:
    """Wait until every item stored after row `after` is settled, then classify each."""
    assert gw.runtime is not None
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        async with gw.runtime.db.session() as session:
            rows = (
                await session.execute(
                    select(InboxEvent.id, InboxEvent.kind, InboxEvent.status)
                    .where(InboxEvent.id > after)
                    .order_by(InboxEvent.id)
                )
            ).all()
            # A status is a status once stored (one for a message the fakes never sent waits
            # a few tries for it, as a real early callback would).
            if all(row.kind == "status" or row.status not in ACTIVE for row in rows):
                ids = [row.id for row in rows]
                turns = set(
                    await session.scalars(
                        select(Turn.inbox_event_id).where(Turn.inbox_event_id.in_(ids))
                    )
                )
                said = set(
                    await session.scalars(
                        select(OutboundMessage.inbox_event_id).where(
                            OutboundMessage.inbox_event_id.in_(ids)
                        )
                    )
                )
                return [_outcome(row.kind, row.id in turns, row.id in said) for row in rows]
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: items not settled within {SETTLE_SECONDS}s: {rows}")
        await asyncio.sleep(0.02)


def _outcome(kind: str, turn: bool, said: bool) -> Outcome:
    if kind == "status":
        return Outcome.STATUS
    if turn and said:
        return Outcome.FORWARDED
    if said:
        return Outcome.ANSWERED
    if turn:
        raise AssertionError("a core turn without an answer to the user")
    return Outcome.RECORDED
