"""Support: a turn found by each kind of id, its story complete, phone numbers masked."""

from __future__ import annotations

import json

from sqlalchemy import select

from gateway.dev import fake_twilio
from gateway.storage.db.models import InboxEvent, OutboundMessage, Turn
from tests.auxil.harness import CORE_KEY, SECRET_KEY, Harness, eventually

BASE = "/api/v1/admin/projects/default/turns"
PHONE = "+14155559876"


async def test_a_turn_is_found_by_every_id_and_its_story_is_masked(gw: Harness) -> None:
    assert gw.twilio is not None and gw.runtime is not None
    form = fake_twilio.inbound_form(from_=PHONE, body="where is my parcel?")
    await gw.post_twilio(form)
    await gw.twilio.wait_for_messages(1)
    sent = await eventually(
        lambda: _one(gw, select(OutboundMessage).where(OutboundMessage.status == "sent"))
    )
    turn = await _one(gw, select(Turn))
    event = await _one(gw, select(InboxEvent))
    ids = [
        turn.response_id,
        turn.trace_id,
        turn.request_id,
        event.request_id,
        form["MessageSid"],
        sent.provider_message_id,
        str(event.id),  # the "(ref N)" of an apology
    ]
    for ident in ids:
        status, story = await gw.admin("GET", f"{BASE}/{ident}")
        assert status == 200, (ident, story)
        assert story["inbound"]["provider_event_id"] == form["MessageSid"]
    assert story["core"]["response_id"] == turn.response_id
    assert story["core"]["usage"]["total_tokens"] > 0
    assert story["outbound"][0]["status"] == "sent"
    assert story["identity"] == {"user": turn.user_ref, "linked": False}
    assert turn.user_ref.startswith("anon_")  # never the phone number
    assert story["core"]["conversation"] == turn.conversation and turn.conversation
    text = json.dumps(story)
    assert PHONE not in text and PHONE[1:] not in text  # masked everywhere
    assert "9876" in text
    assert CORE_KEY not in text and SECRET_KEY not in text
    status, _ = await gw.admin("GET", f"{BASE}/resp_nope")
    assert status == 404


async def _one(gw: Harness, query: object) -> object:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        return (await session.scalars(query)).first()  # type: ignore[arg-type]
