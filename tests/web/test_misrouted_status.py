"""A Twilio status callback posted to the inbound message URL (issue 24, item 9): the number's
status callback points at `/webhooks/twilio/{account}` instead of its `/status` route. It is a
delivery status, as on the status route, with one warning naming the misconfiguration; never a
message from the gateway's own number (which the gateway would answer: texting itself)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from gateway.dev import fake_twilio
from gateway.storage.db.models import InboxEvent, OutboundMessage
from tests.auxil.harness import TWILIO_NUMBER, Harness, eventually

PHONE = "+14155550190"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def _delivery_status(gw: Harness, sid: str) -> str | None:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        query = select(OutboundMessage.delivery_status)
        return await session.scalar(query.where(OutboundMessage.provider_message_id == sid))


async def test_a_status_callback_on_the_inbound_url_is_a_status(
    gw: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    assert gw.twilio is not None
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, to=TWILIO_NUMBER, body="hi"))
    sent = await gw.twilio.wait_for_messages(1)
    await eventually(lambda: gw.count(OutboundMessage, OutboundMessage.status == "sent"))

    form = fake_twilio.status_form(
        message_sid=sent[0]["sid"], status="delivered", to=PHONE, from_=TWILIO_NUMBER
    )
    with caplog.at_level(logging.WARNING, logger="channels.twilio"):
        assert await gw.post_twilio(form) == (200, TWIML, "text/xml")  # the inbound route
    await eventually(lambda: _delivery_status(gw, sent[0]["sid"]), message="recorded")
    assert await _delivery_status(gw, sent[0]["sid"]) == "delivered"

    warnings = [r.getMessage() for r in caplog.records if r.name == "channels.twilio"]
    assert len(warnings) == 1
    assert "status callback" in warnings[0] and "/status" in warnings[0]
    await asyncio.sleep(0.3)
    assert len(gw.twilio.messages) == 1  # only the answer to "hi"
    assert len(gw.core.requests) == 1


async def test_an_unknown_status_never_texts_the_gateways_own_number(gw: Harness) -> None:
    assert gw.twilio is not None
    form = fake_twilio.status_form(
        message_sid=fake_twilio.new_sid("SM"), status="sent", to=PHONE, from_=TWILIO_NUMBER
    )
    assert (await gw.post_twilio(form))[0] == 200
    rows = await eventually(lambda: _inbox(gw), message="stored")
    assert [row.kind for row in rows] == ["status"]
    await asyncio.sleep(0.5)
    assert gw.twilio.messages == []
    assert gw.core.requests == []


async def test_an_inbound_message_with_a_received_status_is_still_a_message(gw: Harness) -> None:
    assert gw.twilio is not None
    form = fake_twilio.inbound_form(from_=PHONE, to=TWILIO_NUMBER, body="still me")
    form["MessageStatus"] = "received"  # some inbound forms carry it too
    assert (await gw.post_twilio(form))[0] == 200
    sent = await gw.twilio.wait_for_messages(1)
    assert sent[0]["body"] == "Echo: still me"


async def _inbox(gw: Harness) -> list[InboxEvent]:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        return list((await session.scalars(select(InboxEvent))).all())
