"""Taps that are not approval decisions (issue 24, item 2): a WhatsApp template quick-reply,
an interactive reply button or list row, a Twilio `ButtonPayload` are something the user said.
Each reaches the agent once: its title as the input, its payload as metadata `tap_payload`.
A Telegram callback query that is not an approval button (the gateway sends no other) is a
stale or foreign button: acknowledged, never forwarded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.dev import fake_twilio, fake_whatsapp
from gateway.storage.db.models import InboxEvent
from tests.auxil import updates
from tests.auxil.harness import TWILIO_NUMBER, Harness, eventually

WA_ID = "14155550177"
PHONE = "+14155550178"


def _taps() -> dict[str, dict[str, Any]]:
    return {
        "template_button": fake_whatsapp.template_button(WA_ID, "promo-stop", "Stop promotions"),
        "button_reply": fake_whatsapp.button_reply(WA_ID, "size_m", "Medium"),
        "list_reply": fake_whatsapp.list_reply(WA_ID, "row_2", "Tomorrow 10:00"),
    }


_EXPECTED = {
    "template_button": ("Stop promotions", "promo-stop"),
    "button_reply": ("Medium", "size_m"),
    "list_reply": ("Tomorrow 10:00", "row_2"),
}


async def _done(gw: Harness) -> None:
    """The tap's inbox row is finished, and nothing more is on its way."""
    await eventually(lambda: gw.count(InboxEvent, InboxEvent.status.in_(("done", "ignored"))))
    await asyncio.sleep(0.3)


@pytest.mark.parametrize("kind", sorted(_EXPECTED))
async def test_a_whatsapp_tap_is_forwarded_once_with_its_payload(gw: Harness, kind: str) -> None:
    assert gw.whatsapp is not None
    tap = _taps()[kind]
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[tap])))[0] == 200
    title, payload = _EXPECTED[kind]
    await eventually(lambda: gw.whatsapp.sent_texts(WA_ID), message="the agent's answer")
    await _done(gw)

    assert len(gw.core.requests) == 1
    call = gw.core.requests[0]["body"]
    assert call["input"] == title
    assert call["metadata"]["tap_payload"] == payload
    assert call["metadata"]["source"] == "whatsapp"
    assert gw.whatsapp.sent_texts(WA_ID) == [f"Echo: {title}"]
    assert tap["id"] in gw.whatsapp.reads  # marked read, as any message


async def test_a_twilio_button_tap_is_forwarded_once_with_its_payload(gw: Harness) -> None:
    assert gw.twilio is not None
    sender = f"whatsapp:{PHONE}"
    form = fake_twilio.inbound_form(
        from_=sender,
        to=f"whatsapp:{TWILIO_NUMBER}",
        body="Yes, book it",
        button_payload="book:slot-7",
        button_text="Yes, book it",
    )
    assert (await gw.post_twilio(form))[0] == 200
    await eventually(lambda: gw.twilio.sent_bodies(sender), message="the agent's answer")
    await _done(gw)

    assert len(gw.core.requests) == 1
    call = gw.core.requests[0]["body"]
    assert call["input"] == "Yes, book it"
    assert call["metadata"]["tap_payload"] == "book:slot-7"
    assert gw.twilio.sent_bodies(sender) == ["Echo: Yes, book it"]


async def test_a_typed_message_carries_no_tap_payload(gw: Harness) -> None:
    assert gw.whatsapp is not None
    message = fake_whatsapp.text_message(WA_ID, "Medium")
    await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message]))
    await eventually(lambda: gw.core.requests, message="the core call")
    assert "tap_payload" not in gw.core.requests[0]["body"]["metadata"]


async def test_a_stale_telegram_button_is_acknowledged_and_not_forwarded(gw: Harness) -> None:
    await gw.post_update(updates.callback("menu:pizza"))
    calls = await gw.telegram.wait_for("answerCallbackQuery", 1)
    assert calls[0].params["callback_query_id"].startswith("cbq")
    await _done(gw)
    assert gw.core.requests == []
    assert gw.telegram.sent_texts() == []
