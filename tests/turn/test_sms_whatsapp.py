"""End to end over real HTTP for SMS and WhatsApp: Twilio SMS, WhatsApp through Twilio and the
WhatsApp Cloud API, each webhook -> inbox -> worker -> core -> outbox -> fake provider API."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable

from sqlalchemy import select

from gateway.dev import fake_twilio, fake_whatsapp
from gateway.storage.db.models import InboxEvent, OptOut, OutboundMessage, Turn
from tests.auxil.harness import (
    PUBLIC_URL,
    TWILIO_NUMBER,
    WHATSAPP_VERIFY_TOKEN,
    Harness,
    eventually,
)

PHONE = "+14155550100"
WA_ID = "14155550123"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def _holds(count: Awaitable[int], expected: int) -> bool:
    return await count >= expected


async def _rows(gw: Harness, model: type, *where: object) -> list:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        return list((await session.scalars(select(model).where(*where))).all())


# --- one turn per path, redelivery ------------------------------------------------------------


async def test_sms_turn_once_and_redelivery_is_ignored(gw: Harness) -> None:
    assert gw.twilio is not None
    form = fake_twilio.inbound_form(from_=PHONE, to=TWILIO_NUMBER, body="What's the weather?")
    status, body, content_type = await gw.post_twilio(form)
    assert (status, body, content_type) == (200, TWIML, "text/xml")

    sent = await gw.twilio.wait_for_messages(1)
    assert sent[0]["to"] == PHONE and sent[0]["from"] == TWILIO_NUMBER
    assert sent[0]["body"] == "Echo: What's the weather?"
    assert sent[0]["status_callback"] == f"{PUBLIC_URL}/webhooks/twilio/default/status"
    call = gw.core.requests[0]["body"]
    assert call["user"] == await gw.core_user("sms", PHONE)  # opaque, never the number
    assert call["metadata"]["source"] == "sms"

    assert (await gw.post_twilio(form))[0] == 200  # Twilio retries the same MessageSid
    await eventually(lambda: gw.count(InboxEvent, InboxEvent.status == "done"))
    assert len(gw.core.requests) == 1
    assert len(gw.twilio.messages) == 1
    assert await gw.count(Turn) == 1


async def test_whatsapp_through_twilio_answers_on_whatsapp(gw: Harness) -> None:
    assert gw.twilio is not None
    form = fake_twilio.inbound_form(
        from_=f"whatsapp:+{WA_ID}", to=f"whatsapp:{TWILIO_NUMBER}", body="hola"
    )
    assert (await gw.post_twilio(form))[0] == 200
    sent = await gw.twilio.wait_for_messages(1)
    assert sent[0]["to"] == f"whatsapp:+{WA_ID}"
    assert sent[0]["from"] == f"whatsapp:{TWILIO_NUMBER}"
    assert sent[0]["body"] == "Echo: hola"
    call = gw.core.requests[0]["body"]
    assert call["metadata"]["source"] == "whatsapp"
    # The same opaque user as on the Cloud API: one WhatsApp sender, whichever provider.
    assert call["user"] == await gw.core_user("whatsapp", WA_ID)


async def test_whatsapp_cloud_turn_once_marks_read_and_redelivery_is_ignored(gw: Harness) -> None:
    assert gw.whatsapp is not None
    message = fake_whatsapp.text_message(WA_ID, "Hi there")
    payload = fake_whatsapp.webhook_payload(messages=[message])
    assert (await gw.post_whatsapp(payload))[0] == 200

    sent = await gw.whatsapp.wait_for_messages(1)
    assert sent[0]["to"] == WA_ID
    assert sent[0]["text"]["body"] == "Echo: Hi there"
    call = gw.core.requests[0]["body"]
    assert call["metadata"]["source"] == "whatsapp"
    assert call["user"] == await gw.core_user("whatsapp", WA_ID)
    await eventually(lambda: message["id"] in gw.whatsapp.reads, message="marked as read")

    assert (await gw.post_whatsapp(payload))[0] == 200
    await eventually(lambda: gw.count(InboxEvent, InboxEvent.status == "done"))
    assert len(gw.core.requests) == 1
    assert len(gw.whatsapp.messages) == 1


async def test_whatsapp_batch_of_three_messages_and_two_statuses(gw: Harness) -> None:
    assert gw.whatsapp is not None
    first = fake_whatsapp.webhook_payload(messages=[fake_whatsapp.text_message(WA_ID, "one")])
    await gw.post_whatsapp(first)
    await gw.whatsapp.wait_for_messages(1)
    outbound = await eventually(
        lambda: _rows(gw, OutboundMessage, OutboundMessage.status == "sent")
    )
    wamid = outbound[0].provider_message_id
    assert wamid

    others = ["15550000001", "15550000002", "15550000003"]
    batch = fake_whatsapp.webhook_payload(
        messages=[fake_whatsapp.text_message(wa, f"from {wa}") for wa in others],
        statuses=[
            fake_whatsapp.status(wamid, "read", recipient_id=WA_ID),
            fake_whatsapp.status(wamid, "delivered", recipient_id=WA_ID),
        ],
    )
    assert (await gw.post_whatsapp(batch))[0] == 200
    await gw.whatsapp.wait_for_messages(4)
    assert sorted(m["to"] for m in gw.whatsapp.messages[1:]) == others
    await eventually(lambda: _holds(gw.count(Turn), 4))
    assert await gw.count(Turn) == 4
    done_statuses = (InboxEvent.kind == "status", InboxEvent.status == "done")
    await eventually(lambda: _holds(gw.count(InboxEvent, *done_statuses), 2))
    assert await gw.count(InboxEvent, InboxEvent.kind == "status") == 2
    # "read" came first, "delivered" after it: the status never goes back.
    (row,) = await _rows(gw, OutboundMessage, OutboundMessage.provider_message_id == wamid)
    assert row.delivery_status == "read"


# --- signatures: documented computation verifies, anything else writes nothing ----------------


async def test_twilio_signature_failures_write_nothing(gw: Harness) -> None:
    form = fake_twilio.inbound_form(from_=PHONE, body="hi")
    good = fake_twilio.sign(f"{PUBLIC_URL}/webhooks/twilio/default", form)
    tampered = fake_twilio.encode_form(form).replace(b"Body=hi", b"Body=hI")
    cases = [
        await gw.post_twilio(form, auth_token="not-the-token"),
        await gw.post_twilio(form, signature=good, body=tampered),
        await gw.post_twilio(form, signature=""),
        await gw.post_twilio(form, query="?a=2", signed_query="?a=1"),
        await gw.post_twilio(form, status=True, signature=good),  # signed for another URL
    ]
    assert [status for status, _, _ in cases] == [403, 403, 401, 403, 403]
    assert await gw.inbox_rows() == 0
    # The same request signed for the query it really has is accepted.
    assert (await gw.post_twilio(form, query="?a=1"))[0] == 200
    assert await gw.inbox_rows() == 1


async def test_whatsapp_signature_failures_write_nothing(gw: Harness) -> None:
    payload = fake_whatsapp.webhook_payload(messages=[fake_whatsapp.text_message(WA_ID, "hi")])
    body, _ = fake_whatsapp.signed_body(payload)
    good = fake_whatsapp.sign(body)
    flipped = body.replace(b'"hi"', b'"hI"')
    cases = [
        await gw.post_whatsapp(body, app_secret="wrong-secret"),
        await gw.post_whatsapp(flipped, signature=good),
        await gw.post_whatsapp(body, signature=""),
        await gw.post_whatsapp(body, signature="sha256=zz"),
    ]
    assert [status for status, _ in cases] == [403, 403, 401, 403]
    assert await gw.inbox_rows() == 0
    assert (await gw.post_whatsapp(body, signature=good))[0] == 200
    assert await gw.inbox_rows() == 1


async def test_whatsapp_verification_handshake(gw: Harness) -> None:
    assert gw.http is not None
    url = f"{gw.base_url}/webhooks/whatsapp/default"
    good = {"hub.mode": "subscribe", "hub.verify_token": WHATSAPP_VERIFY_TOKEN}
    async with gw.http.get(url, params={**good, "hub.challenge": "1158201444"}) as resp:
        assert (resp.status, await resp.text()) == (200, "1158201444")
    bad = {**good, "hub.verify_token": "guess", "hub.challenge": "1"}
    async with gw.http.get(url, params=bad) as resp:
        assert resp.status == 403
    async with gw.http.get(f"{gw.base_url}/webhooks/whatsapp/nope", params=good) as resp:
        assert resp.status == 404


# --- SMS keywords ------------------------------------------------------------------------------


async def test_stop_start_help(gw: Harness) -> None:
    assert gw.twilio is not None

    async def text(body: str) -> None:
        assert (await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=body)))[0] == 200

    async def settled(count: int) -> None:
        await eventually(
            lambda: _holds(gw.count(InboxEvent, InboxEvent.status.in_(("done", "ignored"))), count)
        )

    await text("help")
    await gw.twilio.wait_for_messages(1)
    assert "STOP" in gw.twilio.messages[0]["body"]
    assert gw.core.requests == []  # HELP never reaches the core

    await text("STOP")
    await settled(2)
    assert len(await _rows(gw, OptOut)) == 1
    await text("are you there?")
    await settled(3)
    assert gw.core.requests == [] and len(gw.twilio.messages) == 1  # nothing forwarded or sent

    await text("Start")
    await gw.twilio.wait_for_messages(2)
    assert "subscribed again" in gw.twilio.messages[1]["body"]
    assert await _rows(gw, OptOut) == []
    await text("back again")
    await gw.twilio.wait_for_messages(3)
    assert gw.twilio.messages[2]["body"] == "Echo: back again"
    assert len(gw.core.requests) == 1


async def test_provider_opt_out_error_is_recorded_and_respected(gw: Harness) -> None:
    assert gw.twilio is not None
    gw.twilio.opted_out.add(PHONE)
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="hello"))
    failed = await eventually(
        lambda: _rows(gw, OutboundMessage, OutboundMessage.status == "failed")
    )
    assert "opted out (21610)" in (failed[0].last_error or "")
    assert len(await _rows(gw, OptOut)) == 1
    # Later replies are not even attempted.
    gw.twilio.opted_out.clear()
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="again"))
    await eventually(lambda: gw.count(InboxEvent, InboxEvent.status == "ignored"))
    assert gw.twilio.messages == []


# --- long replies, statuses, provider errors ---------------------------------------------------


async def test_long_sms_reply_is_split_in_order_on_word_boundaries(gw: Harness) -> None:
    assert gw.twilio is not None
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="#long=4000 tell me"))
    await eventually(
        lambda: _holds(gw.count(OutboundMessage, OutboundMessage.status == "sent"), 3), timeout=20
    )
    rows = await _rows(gw, OutboundMessage)
    parts = [m["body"] for m in gw.twilio.messages]
    assert len(parts) == len(rows) >= 3
    assert all(len(part) <= 1600 for part in parts)
    first = gw.core.requests[0]
    assert gw.http is not None
    async with gw.http.post(  # same idempotency key: the core answers the stored response
        f"{gw.core_url}/v1/responses",
        json=first["body"],
        headers={"X-Idempotency-Key": first["headers"]["x-idempotency-key"]},
    ) as resp:
        reply = (await resp.json())["output"][-1]["content"][0]["text"]
    assert "".join(parts) == reply
    assert all(
        not part[-1].isalnum() or not nxt[0].isalnum() for part, nxt in itertools.pairwise(parts)
    )


async def test_twilio_status_callbacks_out_of_order_end_at_the_furthest(gw: Harness) -> None:
    assert gw.twilio is not None
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="hi"))
    rows = await eventually(lambda: _rows(gw, OutboundMessage, OutboundMessage.status == "sent"))
    sid = rows[0].provider_message_id
    for status in ("delivered", "sent", "queued", "delivered"):
        form = fake_twilio.status_form(message_sid=sid, status=status, to=PHONE)
        assert (await gw.post_twilio(form, status=True))[0] == 200
    done_statuses = (InboxEvent.kind == "status", InboxEvent.status == "done")
    # Three distinct events: the repeated "delivered" is a duplicate of the first.
    await eventually(lambda: _holds(gw.count(InboxEvent, *done_statuses), 3))
    (row,) = await _rows(gw, OutboundMessage, OutboundMessage.provider_message_id == sid)
    assert row.delivery_status == "delivered"

    failed = fake_twilio.status_form(message_sid=sid, status="failed", to=PHONE, error_code="30007")
    await gw.post_twilio(failed, status=True)
    await eventually(
        lambda: _holds(
            gw.count(InboxEvent, InboxEvent.kind == "status", InboxEvent.status == "done"), 4
        )
    )
    (row,) = await _rows(gw, OutboundMessage, OutboundMessage.provider_message_id == sid)
    assert row.delivery_status == "delivered"  # a terminal status is not replaced


async def test_whatsapp_outside_window_fails_with_the_reason(gw: Harness) -> None:
    assert gw.whatsapp is not None
    gw.whatsapp.outside_window.add(WA_ID)
    await gw.post_whatsapp(
        fake_whatsapp.webhook_payload(messages=[fake_whatsapp.text_message(WA_ID, "hi")])
    )
    failed = await eventually(
        lambda: _rows(gw, OutboundMessage, OutboundMessage.status == "failed")
    )
    assert "131047" in (failed[0].last_error or "")
    assert "24-hour" in (failed[0].last_error or "")


async def test_twilio_rate_limit_backs_off_then_delivers_once(gw: Harness) -> None:
    assert gw.twilio is not None
    gw.twilio.fail_next(2, status=429, code=20429, retry_after=1)
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="hi"))
    sent = await gw.twilio.wait_for_messages(1, timeout=20)
    assert sent[0]["body"] == "Echo: hi"
    await eventually(lambda: gw.count(OutboundMessage, OutboundMessage.status == "sent"))
    assert len(gw.twilio.messages) == 1


async def test_flaky_providers_deliver_each_reply_exactly_once(gw: Harness) -> None:
    """Both provider APIs fail half of the sends (5xx): every reply still arrives once."""
    assert gw.twilio is not None and gw.whatsapp is not None
    gw.twilio.flaky(0.5, seed=7)
    gw.whatsapp.flaky(0.5, seed=11)
    phones = [f"+1415555{n:04d}" for n in range(10)]
    wa_ids = [f"55119876{n:05d}" for n in range(10)]
    for phone in phones:
        await gw.post_twilio(fake_twilio.inbound_form(from_=phone, body=f"sms {phone}"))
    for wa in wa_ids:
        payload = fake_whatsapp.webhook_payload(messages=[fake_whatsapp.text_message(wa, wa)])
        await gw.post_whatsapp(payload)
    await gw.twilio.wait_for_messages(10, timeout=30)
    await gw.whatsapp.wait_for_messages(10, timeout=30)
    sent = OutboundMessage.status == "sent"
    await eventually(lambda: _holds(gw.count(OutboundMessage, sent), 20), timeout=30)
    assert sorted(m["to"] for m in gw.twilio.messages) == sorted(phones)
    assert sorted(m["to"] for m in gw.whatsapp.messages) == sorted(wa_ids)
    assert any(call.status >= 500 for call in gw.twilio.calls)  # failures did happen
