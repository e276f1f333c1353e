"""Real Telegram messages end to end (issue 24, items 4, 7 and 8): service messages and automatic
forwards of channel posts are recorded and never answered; a forum topic is a conversation of
its own and its replies go to it. Payload shapes: the Bot API's `Message` documentation
(https://core.telegram.org/bots/api#message, Bot API 10.0)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from gateway.dev.fake_telegram import RecordedCall
from gateway.storage.db.models import IdentityLink, InboxEvent
from identity.replies import SHARED_SENDER
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

FORUM = -1001234567890
"""A supergroup with topics."""
DISCUSSION = -1009876543210
"""A channel's discussion group."""
PLAIN = -1005555555555
"""A supergroup without topics."""
MOD = {"id": 99, "is_bot": False, "first_name": "Mod"}
ANA = updates.USER
BOT = "@gateway_demo_bot"

SERVICE_MESSAGES: dict[str, Any] = {
    "successful_payment": {
        "currency": "USD",
        "total_amount": 500,
        "invoice_payload": "order-1",
        "telegram_payment_charge_id": "tg_1",
        "provider_payment_charge_id": "pp_1",
    },
    "pinned_message": {
        "message_id": 3,
        "date": 1767225500,
        "chat": {"id": ANA["id"], "type": "private", "first_name": "Ana"},
        "text": "remember this",
    },
    "message_auto_delete_timer_changed": {"message_auto_delete_time": 86400},
    "write_access_allowed": {"from_request": True},
    "refunded_payment": {
        "currency": "XTR",
        "total_amount": 100,
        "invoice_payload": "order-2",
        "telegram_payment_charge_id": "tg_2",
    },
    "users_shared": {"request_id": 1, "users": [{"user_id": 555}]},
    "web_app_data": {"data": "{}", "button_text": "Open"},
}
"""Service messages a private chat with a bot receives."""


async def _inbox(gw: Harness) -> list[InboxEvent]:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        return list((await session.scalars(select(InboxEvent).order_by(InboxEvent.id))).all())


async def _recorded(gw: Harness, update: dict[str, Any]) -> dict[str, Any]:
    """The stored hints of an update the gateway must keep but never act on."""
    event_id = str(update["update_id"])
    [row] = [row for row in await _inbox(gw) if row.event_id == event_id]
    assert (row.kind, row.status) == ("unsupported", "ignored")
    return dict(row.payload["hints"])


async def _answered(gw: Harness, update: dict[str, Any], sends: int) -> RecordedCall:
    """Post `update`, wait for the chat's `sends`-th sendMessage; the last one."""
    assert (await gw.post_update(update)).status == 200
    calls = await gw.telegram.wait_for("sendMessage", sends)
    return calls[sends - 1]


def _in_topic(text: str, thread: int, *, opener: dict[str, Any] = MOD) -> dict[str, Any]:
    """Ana's message in topic `thread` of the forum: like every topic message that replies to
    nothing else, it replies to the service message that opened the topic."""
    opening = {
        "message_id": thread,
        "date": int(time.time()) - 60,
        "from": opener,
        "chat": {"id": FORUM, "type": "supergroup", "title": "Team chat", "is_forum": True},
        "message_thread_id": thread,
        "is_topic_message": True,
        "forum_topic_created": {"name": f"Topic {thread}", "icon_color": 7322096},
    }
    fields = {"message_thread_id": thread, "is_topic_message": True, "reply_to_message": opening}
    return updates.message(text, chat_id=FORUM, chat_type="supergroup", fields=fields)


async def test_service_messages_in_a_private_chat_are_recorded_never_answered(
    harness: Harness,
) -> None:
    posted = [updates.message(None, fields={name: body}) for name, body in SERVICE_MESSAGES.items()]
    for update in posted:
        assert (await harness.post_update(update)).status == 200
    # The same chat's next message is answered alone: nothing was queued before it.
    await _answered(harness, updates.message("still there?"), 1)
    assert harness.telegram.sent_texts() == ["Echo: still there?"]
    assert [r["body"]["input"] for r in harness.core.requests] == ["still there?"]
    for name, update in zip(SERVICE_MESSAGES, posted, strict=True):
        hints = await _recorded(harness, update)
        assert hints == {"update_type": "message", "service": name}


async def test_an_automatic_forward_mentioning_the_bot_is_not_answered(harness: Harness) -> None:
    telegram_user = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
    channel = {"id": -1001111111111, "type": "channel", "title": "News"}
    forward = updates.message(
        f"New post: ask {BOT} anything",
        chat_id=DISCUSSION,
        chat_type="supergroup",
        user=telegram_user,
        fields={
            "sender_chat": channel,
            "is_automatic_forward": True,
            "forward_origin": {
                "type": "channel",
                "chat": channel,
                "message_id": 12,
                "date": int(time.time()),
            },
        },
    )
    assert (await harness.post_update(forward)).status == 200
    asked = updates.message(f"{BOT} what is new?", chat_id=DISCUSSION, chat_type="supergroup")
    await _answered(harness, asked, 1)
    assert harness.telegram.sent_texts() == ["Echo: what is new?"]
    assert len(harness.core.requests) == 1
    assert await _recorded(harness, forward) == {
        "update_type": "message",
        "automatic_forward": True,
    }


async def test_each_forum_topic_is_a_conversation_and_is_answered_in_it(harness: Harness) -> None:
    first = await _answered(harness, _in_topic(f"{BOT} in 42", 42), 1)
    other = await _answered(harness, _in_topic(f"{BOT} in 43", 43), 2)
    general = await _answered(
        harness, updates.message(f"{BOT} in general", chat_id=FORUM, chat_type="supergroup"), 3
    )
    again = await _answered(harness, _in_topic(f"{BOT} more in 42", 42), 4)

    bodies = [r["body"] for r in harness.core.requests]
    assert [b["input"] for b in bodies] == ["in 42", "in 43", "in general", "more in 42"]
    conversations = [b["conversation"] for b in bodies]
    assert len(set(conversations[:3])) == 3  # two topics and General: three conversations
    assert conversations[3] == conversations[0]  # topic 42 continues its own
    assert len({b["user"] for b in bodies}) == 1  # the same person throughout

    assert [c.params.get("message_thread_id") for c in (first, other, general, again)] == [
        42,
        43,
        None,
        42,
    ]
    assert again.params["text"] == "Echo: more in 42 (turn 2)"
    assert all(c.params["chat_id"] == FORUM for c in (first, other, general, again))


async def test_a_topic_the_bot_opened_does_not_make_every_message_a_reply_to_it(
    harness: Harness,
) -> None:
    opener = harness.telegram.bot_user
    assert (await harness.post_update(_in_topic("chatting among us", 77, opener=opener))).status
    answered = await _answered(harness, _in_topic(f"{BOT} now you", 77, opener=opener), 1)
    assert [r["body"]["input"] for r in harness.core.requests] == ["now you"]
    assert answered.params["message_thread_id"] == 77


async def test_the_approval_continuation_answers_in_the_topic(harness: Harness) -> None:
    asked = await _say_and_wait_for_prompt(harness)
    await harness.post_update(updates.callback(asked["callback_data"]))
    done = await eventually(
        lambda: [
            c
            for c in harness.telegram.calls_to("sendMessage")
            if "Approved: delete_repo" in str(c.params.get("text"))
        ],
        message="the continuation's answer",
    )
    assert (done[0].params["chat_id"], done[0].params.get("message_thread_id")) == (FORUM, 42)


async def _say_and_wait_for_prompt(gw: Harness) -> dict[str, Any]:
    """Ana asks for an approval in topic 42; the prompt's first button (sent to her private
    chat, as prompts in groups are)."""
    assert (await gw.post_update(_in_topic(f"{BOT} #approval=delete_repo clean up", 42))).status

    def first_button() -> dict[str, Any] | None:
        for call in gw.telegram.calls_to("sendMessage"):
            markup = call.params.get("reply_markup")
            if isinstance(markup, dict):
                assert call.params["chat_id"] == ANA["id"]
                assert "message_thread_id" not in call.params
                return dict(markup["inline_keyboard"][0][0])
        return None

    return dict(await eventually(first_button, message="the approval prompt"))


async def test_groups_without_topics_answer_as_before(harness: Harness) -> None:
    """A reply in a group without topics carries a `message_thread_id` (the replied message's
    thread): still the person's one group conversation, answered as a reply, not in a topic."""
    plain = await _answered(
        harness, updates.message(f"{BOT} hello", chat_id=PLAIN, chat_type="supergroup"), 1
    )
    reply = updates.message(
        "and one more thing",
        chat_id=PLAIN,
        chat_type="supergroup",
        reply_to_bot=harness.telegram.bot_user,
        fields={"message_thread_id": 1},
    )
    followed = await _answered(harness, reply, 2)
    first, second = (r["body"] for r in harness.core.requests)
    assert second["conversation"] == first["conversation"]
    for call in (plain, followed):
        assert "message_thread_id" not in call.params
    assert followed.params["reply_parameters"]["message_id"] == reply["message"]["message_id"]
    assert plain.params["reply_parameters"]["message_id"] > 0


ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
"""The placeholder `from` of every anonymous group admin's message (the group is `sender_chat`)."""


def _as_anonymous_admin(text: str, group: int) -> dict[str, Any]:
    sender_chat = {"id": group, "type": "supergroup", "title": "Team chat"}
    return updates.message(
        text,
        chat_id=group,
        chat_type="supergroup",
        user=ANONYMOUS_ADMIN,
        fields={"sender_chat": sender_chat},
    )


async def test_anonymous_admins_share_one_identity_that_is_never_linked(
    harness: Harness,
) -> None:
    status, minted = await harness.admin(
        "POST", "/api/v1/admin/projects/default/link-codes", json={"app_user_id": "user-42"}
    )
    assert status == 201, minted
    code = minted["code"]
    refused = await _answered(
        harness, _as_anonymous_admin(f"/link@gateway_demo_bot {code}", PLAIN), 1
    )
    assert refused.params["text"] == SHARED_SENDER
    assert await harness.count(IdentityLink) == 0

    # Anonymous admins of two groups: one shared core user, one conversation per group.
    await _answered(harness, _as_anonymous_admin(f"{BOT} hi", PLAIN), 2)
    await _answered(harness, _as_anonymous_admin(f"{BOT} hi", FORUM), 3)
    first, second = (r["body"] for r in harness.core.requests)
    assert first["user"] == second["user"]
    assert first["conversation"] != second["conversation"]

    # The code was not spent: its owner links from their own account.
    linked = await _answered(harness, updates.message(f"/link {code}"), 4)
    assert linked.params["text"].startswith("Your account is linked.")
    assert await harness.count(IdentityLink) == 1
