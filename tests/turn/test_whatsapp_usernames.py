"""WhatsApp users known by a username only (Meta business-scoped user ids, BSUIDs), end to end
over real HTTP: no phone number in the webhook, only `from_user_id` (Cloud API) or
`From=whatsapp:<BSUID>` (Twilio); the agent's answer goes back to the BSUID (`recipient` on the
Cloud API, `To=whatsapp:<BSUID>` on Twilio). docs/decisions.md, "Real payloads"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.dev import fake_twilio, fake_whatsapp
from gateway.storage.db.models import InboxEvent, OutboundMessage
from tests.auxil.harness import TWILIO_NUMBER, Harness, eventually

BSUID = "US.13491208655302741999"
PARENT_BSUID = "US.ENT.11815799212886844830"
WA_ID = "14155550123"


async def _outbound(gw: Harness, *where: object) -> list[OutboundMessage]:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        return list((await session.scalars(select(OutboundMessage).where(*where))).all())


async def test_a_username_only_user_on_the_cloud_api_is_answered_by_bsuid(gw: Harness) -> None:
    assert gw.whatsapp is not None
    message = fake_whatsapp.text_message(BSUID, "hi, I only have a username")
    assert "from" not in message
    contacts = [fake_whatsapp.contact(BSUID, "Robin") | {"username": "@robin"}]
    payload = fake_whatsapp.webhook_payload(messages=[message], contacts=contacts)
    assert (await gw.post_whatsapp(payload))[0] == 200

    [sent] = await gw.whatsapp.wait_for_messages(1)
    assert sent["recipient"] == BSUID and "to" not in sent
    assert gw.whatsapp.sent_texts(BSUID) == ["Echo: hi, I only have a username"]
    assert gw.whatsapp.sent_to() == [(BSUID, "recipient")]
    call = gw.core.requests[0]["body"]
    assert call["metadata"]["source"] == "whatsapp"
    assert call["user"] == await gw.core_user("whatsapp", BSUID)  # opaque, never the BSUID
    await eventually(lambda: message["id"] in gw.whatsapp.reads, message="marked as read")

    # Meta's statuses for it name the BSUID (`recipient_user_id`): they settle the message.
    [row] = await eventually(lambda: _outbound(gw, OutboundMessage.status == "sent"))
    assert row.chat == BSUID and row.provider_message_id == sent["id"]
    delivered = fake_whatsapp.status(sent["id"], "delivered", BSUID)
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(statuses=[delivered])))[0] == 200
    await eventually(
        lambda: _outbound(gw, OutboundMessage.delivery_status == "delivered"),
        message="the status for the BSUID settled the message",
    )


async def test_a_number_and_a_bsuid_are_two_senders(gw: Harness) -> None:
    """The same person, once with a number and once by username only, is two senders (two core
    users) until linked through the app."""
    assert gw.whatsapp is not None
    for count, (user, text) in enumerate(((WA_ID, "by number"), (PARENT_BSUID, "by username"))):
        message = fake_whatsapp.text_message(user, text)
        assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message])))[0] == 200
        await gw.whatsapp.wait_for_messages(count + 1)
    assert gw.whatsapp.sent_to() == [(WA_ID, "to"), (PARENT_BSUID, "recipient")]
    assert gw.whatsapp.sent_texts(WA_ID) == ["Echo: by number"]
    assert gw.whatsapp.sent_texts(PARENT_BSUID) == ["Echo: by username"]
    users = [request["body"]["user"] for request in gw.core.requests]
    assert users == [
        await gw.core_user("whatsapp", WA_ID),
        await gw.core_user("whatsapp", PARENT_BSUID),
    ]
    assert users[0] != users[1]


async def test_a_message_type_meta_refuses_for_a_bsuid_fails_for_good(gw: Harness) -> None:
    assert gw.whatsapp is not None
    gw.whatsapp.bsuid_refused.add("text")
    message = fake_whatsapp.text_message(BSUID, "hello?")
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message])))[0] == 200
    [row] = await eventually(lambda: _outbound(gw, OutboundMessage.status == "failed"))
    assert row.chat == BSUID
    assert row.last_error is not None and "131062" in row.last_error
    assert "business-scoped user id" in row.last_error
    assert row.attempts == 1  # permanent: never retried
    assert gw.whatsapp.messages == []
    assert await gw.count(InboxEvent, InboxEvent.status == "done") == 1


async def test_a_username_only_user_over_twilio_is_answered_by_bsuid(gw: Harness) -> None:
    assert gw.twilio is not None
    form: dict[str, Any] = fake_twilio.inbound_form(
        from_=f"whatsapp:{BSUID}", to=f"whatsapp:{TWILIO_NUMBER}", body="hola"
    )
    assert form["WaId"] == "" and form["ExternalUserId"] == BSUID
    assert (await gw.post_twilio(form))[0] == 200

    [sent] = await gw.twilio.wait_for_messages(1)
    assert sent["to"] == f"whatsapp:{BSUID}"
    assert sent["from"] == f"whatsapp:{TWILIO_NUMBER}"
    assert gw.twilio.sent_bodies(f"whatsapp:{BSUID}") == ["Echo: hola"]
    call = gw.core.requests[0]["body"]
    assert call["metadata"]["source"] == "whatsapp"
    # The same sender as on the Cloud API: one WhatsApp user, whichever provider.
    assert call["user"] == await gw.core_user("whatsapp", BSUID)
    [row] = await eventually(lambda: _outbound(gw, OutboundMessage.status == "sent"))
    assert row.chat == f"whatsapp:{BSUID}"
