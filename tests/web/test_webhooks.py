"""Webhook input: authenticity, malformed bodies, limits, redelivery, what gets forwarded."""

from __future__ import annotations

import asyncio

import pytest

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from gateway.storage.db.models import InboxEvent
from tests.auxil import updates
from tests.auxil.databases import PostgresServer
from tests.auxil.harness import Harness, eventually


async def test_wrong_or_missing_secret_is_rejected_and_writes_nothing(harness: Harness) -> None:
    missing = await harness.post_update(updates.message("hi"), secret=None)
    wrong = await harness.post_update(updates.message("hi"), secret="not-the-secret")
    near = await harness.post_update(updates.message("hi"), secret="tg-webhook-secret_4")
    assert (missing.status, wrong.status, near.status) == (401, 403, 403)
    await asyncio.sleep(0.3)
    assert await harness.inbox_rows() == 0
    assert harness.core.requests == []
    assert harness.telegram.calls_to("sendMessage") == []


async def test_malformed_bodies_are_400_and_write_nothing(harness: Harness) -> None:
    for body in (b"{not json", b"[]", b'{"message": {}}', b'{"update_id": "x"}', b"\xff\xfe"):
        resp = await harness.post_update(body)
        assert resp.status == 400, body
    assert await harness.inbox_rows() == 0


async def test_unknown_account_is_404(harness: Harness) -> None:
    resp = await harness.post_update(updates.message("hi"), account="nobody")
    assert resp.status == 404
    assert await harness.inbox_rows() == 0


async def test_oversized_body_is_413(harness: Harness) -> None:
    update = updates.message("x" * (harness.settings.max_body_bytes + 10))
    resp = await harness.post_update(update)
    assert resp.status == 413
    assert await harness.inbox_rows() == 0


async def test_error_bodies_are_json_with_request_id(harness: Harness) -> None:
    assert harness.http is not None
    async with harness.http.post(
        f"{harness.base_url}/webhooks/telegram/default",
        data=b"{",
        headers={"X-Telegram-Bot-Api-Secret-Token": "tg-webhook-secret_42"},
    ) as resp:
        body = await resp.json()
        assert resp.status == 400
        assert set(body["error"]) >= {"code", "message"}
        assert resp.headers["X-Request-ID"]
    async with harness.http.get(f"{harness.base_url}/nowhere") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"


async def test_redelivered_update_gives_one_turn_one_reply(harness: Harness) -> None:
    update = updates.message("only once please")
    for _ in range(3):
        assert (await harness.post_update(update)).status == 200
    await asyncio.gather(*(harness.post_update(update) for _ in range(5)))
    await harness.telegram.wait_for("sendMessage", 1)
    await asyncio.sleep(0.5)  # room for a wrong second reply to show up
    assert harness.telegram.sent_texts() == ["Echo: only once please"]
    assert await harness.inbox_rows() == 1
    assert len(await harness.turns()) == 1
    assert len(harness.core.requests) == 1


async def test_concurrent_first_deliveries_give_one_turn(harness: Harness) -> None:
    update = updates.message("racing deliveries")
    statuses = await asyncio.gather(*(harness.post_update(update) for _ in range(8)))
    assert {r.status for r in statuses} == {200}
    await harness.telegram.wait_for("sendMessage", 1)
    await asyncio.sleep(0.5)
    assert harness.telegram.sent_texts() == ["Echo: racing deliveries"]
    assert len(await harness.turns()) == 1


async def test_group_answers_only_when_addressed(harness: Harness) -> None:
    group = -100123
    bot = {
        "id": 777000,
        "is_bot": True,
        "first_name": "Gateway Demo",
        "username": "gateway_demo_bot",
    }
    other_bot = {"id": 5, "is_bot": True, "first_name": "Other", "username": "other_bot"}
    await harness.post_update(updates.message("just chatting", chat_id=group, chat_type="group"))
    await harness.post_update(
        updates.message("hey @someone_else", chat_id=group, chat_type="supergroup")
    )
    await harness.post_update(updates.message("/help@other_bot", chat_id=group, chat_type="group"))
    await harness.post_update(
        updates.message(
            "replying to another bot", chat_id=group, chat_type="group", reply_to_bot=other_bot
        )
    )
    await harness.post_update(
        updates.message("@gateway_demo_bot what's up?", chat_id=group, chat_type="group")
    )
    await harness.post_update(
        updates.message("and a follow-up", chat_id=group, chat_type="group", reply_to_bot=bot)
    )
    await harness.post_update(
        updates.message("/help@gateway_demo_bot", chat_id=group, chat_type="group")
    )
    await harness.telegram.wait_for("sendMessage", 3)
    await asyncio.sleep(0.5)
    texts = harness.telegram.sent_texts(group)
    assert texts[:2] == ["Echo: what's up?", "Echo: and a follow-up (turn 2)"]
    assert texts[2].startswith("Send me a message")
    assert len(texts) == 3
    assert [r["body"]["input"] for r in harness.core.requests] == ["what's up?", "and a follow-up"]
    # Replies in a group quote the message they answer.
    sends = harness.telegram.calls_to("sendMessage")
    assert all("reply_parameters" in c.params for c in sends)
    assert await harness.count(InboxEvent, InboxEvent.status == "ignored") == 4


async def test_a_mention_after_an_emoji_addresses_the_bot(harness: Harness) -> None:
    """Entity offsets count UTF-16 code units: an emoji before the mention is two of them."""
    group = -100456
    await harness.post_update(
        updates.message("👋🏽 @someone_else look", chat_id=group, chat_type="group")
    )
    await harness.post_update(
        updates.message("👋🏽 @gateway_demo_bot hello", chat_id=group, chat_type="group")
    )
    await harness.telegram.wait_for("sendMessage", 1)
    await asyncio.sleep(0.3)
    assert harness.telegram.sent_texts(group) == ["Echo: 👋🏽 hello"]
    assert [r["body"]["input"] for r in harness.core.requests] == ["👋🏽 hello"]


async def test_commands_are_handled_by_the_gateway_not_forwarded(harness: Harness) -> None:
    await harness.post_update(updates.message("/start"))
    await harness.post_update(updates.message("/help"))
    await harness.post_update(updates.message("/frobnicate now"))
    await harness.telegram.wait_for("sendMessage", 3)
    texts = harness.telegram.sent_texts()
    assert texts[0].startswith("Hi Ana!")
    assert "/new" in texts[1] and "/help" in texts[1]
    assert "/frobnicate" in texts[2]
    assert harness.core.requests == []


async def test_new_command_resets_the_conversation(harness: Harness) -> None:
    await harness.post_update(updates.message("first"))
    await harness.telegram.wait_for("sendMessage", 1)
    await harness.post_update(updates.message("/new"))
    await harness.post_update(updates.message("second"))
    await harness.telegram.wait_for("sendMessage", 3)
    assert "previous_response_id" not in harness.core.requests[1]["body"]


async def test_edits_and_unsupported_updates_are_recorded_not_forwarded(harness: Harness) -> None:
    await harness.post_update(updates.message("edited text", edited=True))
    await harness.post_update(
        {
            "update_id": updates.next_update_id(),
            "my_chat_member": {
                "chat": {"id": 1, "type": "private"},
                "from": updates.USER,
                "date": 1,
                "old_chat_member": {"status": "member", "user": updates.USER},
                "new_chat_member": {"status": "kicked", "user": updates.USER, "until_date": 0},
            },
        }
    )
    dice = updates.message("x")  # nothing the agent can read: no text, no attachment
    del dice["message"]["text"]
    dice["message"]["dice"] = {"emoji": "🎲", "value": 3}
    await harness.post_update(dice)
    await harness.telegram.wait_for("sendMessage", 1)
    await asyncio.sleep(0.3)
    assert harness.telegram.sent_texts() == ["I can't read this kind of message yet."]
    assert harness.core.requests == []
    assert await harness.count(InboxEvent, InboxEvent.status == "ignored") == 2
    assert await harness.count(InboxEvent) == 3


async def test_button_press_is_answered(harness: Harness) -> None:
    await harness.post_update(updates.callback("some:payload"))
    calls = await harness.telegram.wait_for("answerCallbackQuery", 1)
    assert calls[0].params["callback_query_id"].startswith("cbq")
    assert harness.core.requests == []


@pytest.mark.timing  # wall-clock windows: run alone (docs/testing.md)
async def test_typing_indicator_while_core_works(harness: Harness) -> None:
    await harness.post_update(updates.message("#slow=1 think hard"))
    await harness.telegram.wait_for("sendMessage", 1)
    typing = harness.telegram.calls_to("sendChatAction")
    assert typing and typing[0].params["action"] == "typing"
    assert typing[0].at < harness.telegram.calls_to("sendMessage")[0].at


async def test_health_and_metrics(harness: Harness) -> None:
    assert harness.http is not None
    async with harness.http.get(f"{harness.base_url}/health/live") as resp:
        assert resp.status == 200
    async with harness.http.get(f"{harness.base_url}/health/ready") as resp:
        assert resp.status == 200 and (await resp.json())["database"] == "ok"
    await harness.post_update(updates.message("count me"))
    await harness.post_update(updates.message("hi"), secret="bad")
    await harness.telegram.wait_for("sendMessage", 1)
    await eventually(lambda: harness.count(InboxEvent, InboxEvent.status == "done"))
    async with harness.http.get(f"{harness.base_url}/metrics") as resp:
        text = await resp.text()
    assert 'gateway_webhooks_total{channel="telegram",outcome="accepted"} 1.0' in text
    assert 'gateway_webhooks_total{channel="telegram",outcome="rejected_signature"} 1.0' in text
    assert 'gateway_turns_total{channel="telegram",status="completed"} 1.0' in text
    assert 'gateway_core_requests_total{status="200"} 1.0' in text
    assert "gateway_outbox_depth" in text


async def test_webhooks_are_acknowledged_while_the_worker_holds_every_pooled_connection(
    _postgres: PostgresServer,
) -> None:
    """The inbox insert has connections of its own (PostgreSQL): a worker whose statements hold
    the whole pool does not hold up the acknowledgements; the turns go on once it lets go."""
    _postgres.require()
    await _postgres.truncate()
    h = Harness(_postgres.url, FakeTelegram(), MockCore())
    await h.start(db_pool_size=2)
    try:
        assert h.runtime is not None
        assert (await h.post_update(updates.message("hello"))).status == 200
        await h.telegram.wait_for("sendMessage", count=1)
        held = [await h.runtime.db.engine.connect() for _ in range(2)]
        try:
            for n in range(3):
                resp = await asyncio.wait_for(h.post_update(updates.message(f"hi {n}")), 5)
                assert resp.status == 200
            assert len(h.telegram.calls_to("sendMessage")) == 1  # the worker waits meanwhile
        finally:
            for conn in held:
                await conn.close()
        assert await h.inbox_rows() == 4
        await h.telegram.wait_for("sendMessage", count=4)
    finally:
        await h.stop()
