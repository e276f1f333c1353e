"""Issue 24, items 1, 3 and 10, over the real routes: one WhatsApp item the gateway cannot read
never costs the rest of its batch; an order goes to the agent as text; unsupported user messages
are answered, other odd items recorded silently; Telegram updates the gateway does not use are
acknowledged whatever their shape.

Payload sources: Meta's messages webhook reference and whatsapp-api-js's server types
(`tests/auxil/whatsapp_payloads.py`); the Bot API's Update object (core.telegram.org/bots/api)
for the Telegram update types.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from gateway.dev import fake_whatsapp
from gateway.storage.db.models import InboxEvent, OutboundMessage
from gateway.turn.replies import NO_TEXT_REPLY
from tests.auxil import updates
from tests.auxil import whatsapp_payloads as wa
from tests.auxil.harness import Harness, eventually

WA_ID = "14155550123"
OTHER = "14155550199"


async def _inbox(gw: Harness) -> dict[str, InboxEvent]:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        rows = (await session.scalars(select(InboxEvent))).all()
    return {row.event_id: row for row in rows}


async def _unsupported(gw: Harness) -> list[InboxEvent]:
    return [row for row in (await _inbox(gw)).values() if row.kind == "unsupported"]


async def _done(gw: Harness, event_id: str) -> bool:
    row = (await _inbox(gw)).get(event_id)
    return row is not None and row.status == "done"


def _texts(gw: Harness) -> list[str]:
    assert gw.whatsapp is not None
    return [m["text"]["body"] for m in gw.whatsapp.messages if m.get("type") == "text"]


def _core_inputs(gw: Harness) -> list[Any]:
    return [request["body"]["input"] for request in gw.core.requests]


# --- WhatsApp: one odd item never costs its batch ---------------------------------------------


async def test_an_odd_item_never_costs_its_batch_and_a_redelivery_changes_nothing(
    gw: Harness,
) -> None:
    assert gw.whatsapp is not None
    first = fake_whatsapp.text_message(WA_ID, "one")
    odd = wa.errors_only(WA_ID)  # an interactive message with `errors` and no body
    second = fake_whatsapp.text_message(OTHER, "two")
    payload = fake_whatsapp.webhook_payload(messages=[first, odd, second])
    payload["entry"][0]["changes"][0]["value"]["messages"].insert(2, 7)  # not even an object

    assert (await gw.post_whatsapp(payload))[0] == 200
    await gw.whatsapp.wait_for_messages(2)
    assert sorted(_texts(gw)) == ["Echo: one", "Echo: two"]
    assert sorted(_core_inputs(gw)) == ["one", "two"]

    recorded = {row.event_id: row for row in await _unsupported(gw)}
    assert len(recorded) == 2
    assert recorded[odd["id"]].status == "ignored"
    hints = recorded[odd["id"]].payload["hints"]
    assert hints["type"] == "interactive"
    assert (hints["error_code"], hints["reason"]) == (131051, "the message carries errors")
    [derived] = [row for key, row in recorded.items() if key != odd["id"]]
    assert derived.event_id.startswith("unreadable:")
    assert "messages[2]" in derived.payload["hints"]["position"]

    rows = await gw.inbox_rows()
    assert (await gw.post_whatsapp(payload))[0] == 200  # Meta redelivers the same batch
    assert await gw.inbox_rows() == rows  # every item, the derived id too, is stored once
    await eventually(lambda: _done(gw, second["id"]))
    assert len(gw.core.requests) == 2
    assert len(_texts(gw)) == 2


@pytest.mark.parametrize(
    "malformed",
    [{"status": 5}, {"status": "sent", "timestamp": "yesterday"}, "not a status"],
    ids=["status_not_text", "bad_timestamp", "not_an_object"],
)
async def test_a_malformed_status_never_costs_the_others(gw: Harness, malformed: Any) -> None:
    assert gw.whatsapp is not None
    await gw.post_whatsapp(
        fake_whatsapp.webhook_payload(messages=[fake_whatsapp.text_message(WA_ID, "hi")])
    )
    await gw.whatsapp.wait_for_messages(1)
    sent = await eventually(lambda: _sent(gw))
    wamid = sent[0].provider_message_id
    odd = malformed
    if isinstance(malformed, dict):
        odd = {"id": wamid, "recipient_id": WA_ID, **malformed}
    statuses = [
        fake_whatsapp.status(wamid, "delivered", WA_ID),
        odd,
        fake_whatsapp.status(wamid, "read", WA_ID),
    ]
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(statuses=statuses)))[0] == 200

    await eventually(lambda: _delivery(gw, wamid), message="both good statuses applied")
    [recorded] = await _unsupported(gw)
    assert "statuses[1]" in recorded.payload["hints"]["position"]
    assert recorded.payload["hints"]["reason"].startswith("unexpected shape")


async def _sent(gw: Harness) -> list[OutboundMessage]:
    return [row for row in await gw.outbox() if row.status == "sent"]


async def _delivery(gw: Harness, wamid: str) -> bool:
    done = [r for r in (await _inbox(gw)).values() if r.kind == "status" and r.status == "done"]
    rows = [row for row in await gw.outbox() if row.provider_message_id == wamid]
    return len(done) == 2 and rows[0].delivery_status == "read"


async def test_an_item_that_cannot_be_stored_is_recorded_and_its_siblings_answered(
    gw: Harness,
) -> None:
    assert gw.whatsapp is not None
    nul = fake_whatsapp.text_message(WA_ID, "nul \x00 inside")
    good = fake_whatsapp.text_message(OTHER, "fine")
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[nul, good])))[0] == 200
    await gw.whatsapp.wait_for_messages(1)
    assert _texts(gw) == ["Echo: fine"]
    [recorded] = await _unsupported(gw)
    assert recorded.event_id == nul["id"]
    assert recorded.payload["hints"]["received_kind"] == "message"
    assert recorded.payload["raw"] == {}  # nothing of its content is kept


async def test_a_body_that_is_not_an_object_is_still_refused(gw: Harness) -> None:
    for body in (b"not json", b"[1, 2]", b'"text"'):
        assert (await gw.post_whatsapp(body))[0] == 400
    assert await gw.inbox_rows() == 0


# --- WhatsApp: what a user sends is forwarded or answered -------------------------------------


async def test_an_order_goes_to_the_agent_as_text(gw: Harness) -> None:
    assert gw.whatsapp is not None
    items = [("SKU123", 2, 9.99, "EUR"), ("SKU-9", 1, 120, "EUR")]
    order = wa.order_message(WA_ID, "CAT42", items, text="Deliver after 6pm")
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[order])))[0] == 200
    await gw.whatsapp.wait_for_messages(1)
    expected = (
        "Order from catalog CAT42:\n"
        "- 2 x SKU123 at 9.99 EUR\n"
        "- 1 x SKU-9 at 120 EUR\n"
        "\n"
        "Deliver after 6pm"
    )
    assert _core_inputs(gw) == [expected]
    assert _texts(gw) == [f"Echo: {expected}"]


async def test_unreadable_messages_are_answered_and_the_rest_recorded_silently(
    gw: Harness,
) -> None:
    assert gw.whatsapp is not None
    answered = [wa.unsupported_message(WA_ID), wa.unknown_message(OTHER)]
    silent = [
        wa.system_message("14155550177", "14155550178"),
        fake_whatsapp.reaction_message("14155550166", "wamid.ANY", "👍"),
        wa.errors_only("14155550155", kind="image"),
    ]
    payload = fake_whatsapp.webhook_payload(messages=answered + silent)
    assert (await gw.post_whatsapp(payload))[0] == 200

    sent = await gw.whatsapp.wait_for_messages(2)
    assert sorted(m["to"] for m in sent) == [WA_ID, OTHER]
    assert _texts(gw) == [NO_TEXT_REPLY, NO_TEXT_REPLY]
    for message in answered:
        await eventually(lambda m=message: _done(gw, m["id"]))
        await eventually(lambda m=message: m["id"] in gw.whatsapp.reads, message="read")
    assert gw.core.requests == []
    rows = await _inbox(gw)
    assert {rows[m["id"]].status for m in silent} == {"ignored"}
    assert [rows[m["id"]].payload["hints"]["type"] for m in silent] == [
        "system",
        "reaction",
        "image",
    ]
    assert len(gw.whatsapp.messages) == 2


# --- Telegram: updates the gateway does not use ---------------------------------------------

USER = updates.USER
CHAT = {"id": -1001234567890, "type": "supergroup", "title": "Team chat"}
POLL_BEFORE_9_6 = {  # Bot API 9.5's Poll: no `persistent_id`, which PTB 22.8 requires
    "id": "5897443276443336705",
    "question": "Tea or coffee?",
    "options": [{"text": "Tea", "voter_count": 0}, {"text": "Coffee", "voter_count": 1}],
    "total_voter_count": 1,
    "is_closed": False,
    "is_anonymous": True,
    "type": "regular",
    "allows_multiple_answers": False,
}
UNUSED_UPDATES: dict[str, Any] = {
    "poll": POLL_BEFORE_9_6,
    "poll_answer": {"poll_id": "5897443276443336705", "user": USER, "option_ids": [1]},
    "chat_join_request": {"chat": CHAT, "from": USER, "user_chat_id": USER["id"], "date": 1},
    "message_reaction": {
        "chat": CHAT,
        "message_id": 7,
        "user": USER,
        "date": 1767225600,
        "old_reaction": [],
        "new_reaction": [{"type": "emoji", "emoji": "👍"}],
    },
    "business_connection": {
        "id": "bc1",
        "user": USER,
        "user_chat_id": USER["id"],
        "date": 1767225600,
        "is_enabled": True,
    },
    "purchased_paid_media": {"from": USER, "paid_media_payload": "order-7"},
    "some_update_from_bot_api_12": {"anything": [1, {"nested": True}]},
}
ODD_SHAPES: dict[str, Any] = {"poll": "not an object", "chat_join_request": [1, 2], "x": None}


async def test_updates_the_gateway_does_not_use_are_recorded_and_acknowledged(
    gw: Harness,
) -> None:
    posted: dict[str, str] = {}
    for field, value in [*UNUSED_UPDATES.items(), *ODD_SHAPES.items()]:
        update = {"update_id": updates.next_update_id(), field: value}
        response = await gw.post_update(update)
        assert response.status == 200, (field, value)
        posted[str(update["update_id"])] = field

    rows = await _inbox(gw)
    assert {key: rows[key].payload["hints"]["update_type"] for key in posted} == posted
    assert {rows[key].kind for key in posted} == {"unsupported"}
    assert {rows[key].status for key in posted} == {"ignored"}

    fence = updates.message("after them")  # answered: everything before it was handled
    assert (await gw.post_update(fence)).status == 200
    await gw.telegram.wait_for("sendMessage", 1)
    assert gw.telegram.sent_texts() == ["Echo: after them"]
    assert len(gw.core.requests) == 1


async def test_a_malformed_message_or_button_press_is_still_refused(gw: Harness) -> None:
    no_chat = {"update_id": updates.next_update_id(), "message": {"text": "no chat"}}
    no_sender = {"update_id": updates.next_update_id(), "callback_query": {"id": "1"}}
    for update in (no_chat, no_sender):
        assert (await gw.post_update(update)).status == 400, json.dumps(update)
    assert await gw.inbox_rows() == 0
