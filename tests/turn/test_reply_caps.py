"""What a long or huge core answer costs: replies capped in parts (fewer on SMS, where parts cost
money) with a visible marker, and a body over GATEWAY_CORE_MAX_RESPONSE_BYTES a failed turn with
the apology, called once, never a crash or a retry loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from channels.textsplit import TRUNCATED
from gateway.dev import fake_twilio
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.dev.mock_core import MockCore
from gateway.storage.db.models import InboxEvent, Turn
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

PHONE = "+14155550100"


@pytest_asyncio.fixture
async def capped(db_url: str) -> AsyncIterator[Harness]:
    h = Harness(db_url, FakeTelegram(), MockCore(), twilio=FakeTwilio(), whatsapp=FakeWhatsApp())
    await h.start(max_reply_parts=2, core_max_response_bytes=20_000)
    try:
        yield h
    finally:
        await h.stop()


async def test_a_long_chat_reply_is_cut_at_the_configured_parts(capped: Harness) -> None:
    await capped.post_update(updates.message("#long=15000 everything please"))
    await capped.telegram.wait_for("sendMessage", 2)
    await asyncio.sleep(0.5)  # room for a wrong third part to show up
    texts = capped.telegram.sent_texts()
    assert len(texts) == 2
    assert texts[-1].endswith(TRUNCATED) and not texts[0].endswith(TRUNCATED)


async def test_sms_gets_fewer_parts_by_default(gw: Harness) -> None:
    assert gw.twilio is not None
    assert gw.settings.sms_max_reply_parts < gw.settings.max_reply_parts
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="#long=9000 tell me all"))
    await gw.twilio.wait_for_messages(gw.settings.sms_max_reply_parts)
    await asyncio.sleep(0.5)
    bodies = gw.twilio.sent_bodies(PHONE)
    assert len(bodies) == gw.settings.sms_max_reply_parts == 3
    assert all(len(body) <= 1600 for body in bodies)
    assert bodies[-1].endswith(TRUNCATED)


async def test_an_oversized_core_answer_fails_the_turn_once(capped: Harness) -> None:
    await capped.post_update(updates.message("#long=30000 far too much"))
    apology = await eventually(
        lambda: [t for t in capped.telegram.sent_texts() if t.startswith("Sorry")],
        message="the apology",
    )
    assert "ref" in apology[0]
    await asyncio.sleep(0.5)
    assert len(capped.core.requests) == 1  # not retried: the same answer would come again
    turns = await capped.turns()
    assert [t.status for t in turns] == ["failed"]
    assert "larger than 20000 bytes" in (turns[0].error or "")
    assert await capped.count(InboxEvent, InboxEvent.status == "failed") == 1
    assert await capped.count(Turn) == 1
    # The gateway keeps answering.
    await capped.post_update(updates.message("still there?"))
    await eventually(
        lambda: any(t.startswith("Echo: still there?") for t in capped.telegram.sent_texts())
    )
