"""Telegram messages the bot must never answer (service messages, automatic forwards of channel
posts) and forum topics, as the adapter reads them: payload shapes from the Bot API's `Message`
documentation (https://core.telegram.org/bots/api#message, Bot API 10.0)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from telegram.constants import MessageType

from channels.telegram_fields import SERVICE_FIELDS
from gateway.messages import InboundEvent, InboundRequest
from gateway.storage.conversation_keys import conversation_chat
from tests.auxil.adapters import offline_telegram

ADAPTER = offline_telegram()
ANA = {"id": 5, "is_bot": False, "first_name": "Ana"}
BOT = {"id": 42, "is_bot": True, "first_name": "Bot", "username": "demo_bot"}
PRIVATE = {"id": 5, "type": "private", "first_name": "Ana"}
FORUM = {"id": -1001, "type": "supergroup", "title": "Team", "is_forum": True}

CONTENT_TYPES = frozenset(
    {
        "animation",
        "audio",
        "business_connection_id",
        "checklist",
        "contact",
        "dice",
        "document",
        "effect_id",
        "game",
        "giveaway",
        "giveaway_winners",
        "invoice",
        "live_photo",
        "location",
        "paid_media",
        "photo",
        "poll",
        "reply_to_story",
        "sender_boost_count",
        "sender_business_bot",
        "sticker",
        "story",
        "suggested_post_info",
        "text",
        "venue",
        "video",
        "video_note",
        "voice",
    }
)
"""PTB's message types that are something a person sent (answered, forwarded or told "can't
read"), not a service message."""


def parse(message: dict[str, Any], update_id: int = 1) -> InboundEvent:
    body = json.dumps({"update_id": update_id, "message": message}).encode()
    [event] = ADAPTER.parse(InboundRequest("POST", "http://x/", {}, {}, body))
    return event


def _message(**fields: Any) -> dict[str, Any]:
    return {"message_id": 9, "date": 1767225600, "chat": PRIVATE, "from": ANA, **fields}


def test_every_ptb_message_type_is_classified() -> None:
    """A Bot API upgrade that adds a message type fails here until it is called content or
    service (a new service message must never be answered)."""
    types = {member.value for member in MessageType}
    assert types - CONTENT_TYPES - SERVICE_FIELDS == set()
    assert CONTENT_TYPES.isdisjoint(SERVICE_FIELDS)


@pytest.mark.parametrize("field", sorted(SERVICE_FIELDS))
def test_a_service_message_in_a_private_chat_is_recorded_only(field: str) -> None:
    event = parse(_message(**{field: {}}))
    assert event.kind == "unsupported" and not event.actionable
    assert event.hints == {"update_type": "message", "service": field}
    assert (event.chat, event.sender, event.message_id) == ("5", "5", "9")


@pytest.mark.parametrize(
    "fields",
    [
        {  # after sendInvoice: the user paid
            "successful_payment": {
                "currency": "USD",
                "total_amount": 500,
                "invoice_payload": "order-1",
                "telegram_payment_charge_id": "tg_1",
                "provider_payment_charge_id": "pp_1",
            }
        },
        {"pinned_message": {"message_id": 3, "date": 1767225500, "chat": PRIVATE, "text": "hi"}},
        {"message_auto_delete_timer_changed": {"message_auto_delete_time": 86400}},
        {"write_access_allowed": {"from_request": True}},
        {"group_chat_created": True},
        # Bot API 10.2-10.3, newer than PTB's StatusUpdate filters: the bot added to a
        # community arrives in the chat with the owner who added it
        {"community_chat_added": {"community": {"id": 5001, "name": "Hub"}}},
        {"community_chat_removed": {}},
        {"community_chat_joined": {"community": {"id": 5001, "name": "Hub"}}},
    ],
)
def test_documented_service_payloads_are_never_actionable(fields: dict[str, Any]) -> None:
    event = parse(_message(**fields))
    assert (event.kind, event.hints["service"]) == ("unsupported", next(iter(fields)))


def test_a_text_message_is_never_a_service_message() -> None:
    event = parse(_message(text="pinned_message"))
    assert event.kind == "message" and "service" not in event.hints


def test_an_automatic_forward_is_recorded_only_even_when_it_mentions_the_bot() -> None:
    post = _message(
        chat=FORUM,
        **{"from": {"id": 777000, "is_bot": False, "first_name": "Telegram"}},
        sender_chat={"id": -1002, "type": "channel", "title": "News"},
        is_automatic_forward=True,
        text="New post: ask @demo_bot",
        entities=[{"type": "mention", "offset": 14, "length": 9}],
    )
    event = parse(post)
    assert event.kind == "unsupported" and event.is_group
    assert event.hints == {"update_type": "message", "automatic_forward": True}


def test_a_comment_on_an_automatic_forward_is_not_a_reply_to_its_sender() -> None:
    """A comment on a channel post in its discussion group replies to the automatic forward,
    whose `from` is Telegram's service account: not a reply to anyone in the group (with a bot
    whose id were 777000 it would otherwise read as a reply to the bot)."""
    telegram = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
    post = _message(
        chat=FORUM,
        message_id=91,
        **{"from": telegram},
        sender_chat={"id": -1002, "type": "channel", "title": "News"},
        is_automatic_forward=True,
        text="New post",
    )
    event = parse(
        _message(chat=FORUM, text="great post!", message_thread_id=91, reply_to_message=post)
    )
    assert event.kind == "message" and "reply_to_user_id" not in event.hints
    # A reply to the same message that is not an automatic forward is a reply to its sender.
    del post["is_automatic_forward"]
    event = parse(_message(chat=FORUM, text="great post!", reply_to_message=post))
    assert event.hints["reply_to_user_id"] == 777000


def _opener(thread: int, creator: dict[str, Any]) -> dict[str, Any]:
    """The service message that opened topic `thread`: what a message in the topic replies to
    when it replies to nothing else."""
    return {
        "message_id": thread,
        "date": 1767225000,
        "chat": FORUM,
        "from": creator,
        "message_thread_id": thread,
        "is_topic_message": True,
        "forum_topic_created": {"name": "Support", "icon_color": 7322096},
    }


def test_a_topic_message_names_its_topic() -> None:
    event = parse(
        _message(
            chat=FORUM,
            text="hello",
            message_thread_id=77,
            is_topic_message=True,
            reply_to_message=_opener(77, BOT),
        )
    )
    assert event.thread == "77" and event.hints["thread"] == "77"
    # A topic the bot opened: replying to its opening message is not replying to the bot.
    assert "reply_to_user_id" not in event.hints
    assert event.reply_options() == {"reply_to": "9", "thread": "77"}


def test_a_reply_thread_without_topics_is_not_a_topic() -> None:
    """A reply in a group without topics carries `message_thread_id` too (the thread of the
    replied message); only `is_topic_message` makes it a topic."""
    replied = {"message_id": 4, "date": 1767225000, "chat": FORUM, "from": BOT, "text": "x"}
    event = parse(_message(chat=FORUM, text="and?", message_thread_id=4, reply_to_message=replied))
    assert event.thread is None and event.hints["reply_to_user_id"] == 42
    assert event.reply_options() == {"reply_to": "9"}


def test_thread_conversation_keys_are_per_topic_and_per_person() -> None:
    general = conversation_chat("-1001", "5", is_group=True)
    topic = conversation_chat("-1001", "5", is_group=True, thread="42")
    other = conversation_chat("-1001", "5", is_group=True, thread="43")
    private_topic = conversation_chat("5", "5", is_group=False, thread="3")
    assert len({general, topic, other, private_topic, "5"}) == 5
    assert conversation_chat("-1001", "6", is_group=True, thread="42") != topic
    # Every form ends with the sender: an identity change reaches all of them (`of_sender`).
    assert all(key.endswith(":5") for key in (general, topic, other, private_topic))


def test_a_message_written_as_a_chat_has_a_shared_sender() -> None:
    anonymous = {"id": 1087968824, "is_bot": True, "first_name": "Group"}
    event = parse(_message(chat=FORUM, text="hi", sender_chat=FORUM, **{"from": anonymous}))
    assert (event.kind, event.sender, event.hints["shared_sender"]) == (
        "message",
        "1087968824",
        True,
    )
    assert "shared_sender" not in parse(_message(text="hi")).hints
