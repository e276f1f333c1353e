"""`MessageFields.read` gives what PTB's `Message.de_json` gives, field for field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Message

from channels.telegram_fields import MEDIA_TYPES, MessageFields
from gateway.messages import InboundRequest, WebhookRejected
from tests.auxil.adapters import offline_telegram

user = st.fixed_dictionaries(
    {"id": st.integers(1, 2**52), "is_bot": st.booleans(), "first_name": st.text(max_size=8)},
    optional={
        "last_name": st.text(max_size=8),
        "username": st.from_regex(r"[a-z]{3,8}", fullmatch=True),
    },
)
chat = st.fixed_dictionaries(
    {
        "id": st.integers(-(2**52), 2**52),
        "type": st.sampled_from(["private", "group", "supergroup", "channel"]),
    },
    optional={"title": st.text(max_size=8), "username": st.text(max_size=8)},
)
entity = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["mention", "bot_command", "url", "bold"]),
        "offset": st.integers(0, 50),
        "length": st.integers(1, 20),
    }
)
file = st.fixed_dictionaries(
    {
        "file_id": st.text(min_size=1, max_size=10),
        "file_unique_id": st.text(min_size=1, max_size=10),
    },
    optional={
        "mime_type": st.sampled_from(["image/png", "audio/ogg"]),
        "file_size": st.integers(0, 10**6),
    },
)
photo = st.fixed_dictionaries(
    {
        "file_id": st.text(min_size=1, max_size=10),
        "file_unique_id": st.text(min_size=1, max_size=10),
        "width": st.integers(1, 4000),
        "height": st.integers(1, 4000),
    }
)
media = {
    "document": file,
    "audio": file.map(lambda f: {**f, "duration": 3}),
    "voice": file.map(lambda f: {**f, "duration": 2}),
    "video": file.map(lambda f: {**f, "duration": 1, "width": 2, "height": 2}),
    "video_note": file.map(lambda f: {**f, "duration": 1, "length": 2}),
    "animation": file.map(lambda f: {**f, "duration": 1, "width": 2, "height": 2}),
    "sticker": file.map(
        lambda f: (
            {**f, "type": "regular", "width": 5, "height": 5}
            | {"is_animated": False, "is_video": False}
        )
    ),
}


place = st.fixed_dictionaries({"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)})


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(
        st.fixed_dictionaries(
            {
                "message_id": st.integers(1, 2**31),
                "date": st.integers(0, 2**32),
                "chat": chat,
            },
            optional={
                "from": user,
                "text": st.text(max_size=30),
                "caption": st.text(max_size=30),
                "entities": st.lists(entity, max_size=3),
                "caption_entities": st.lists(entity, max_size=3),
                "photo": st.lists(photo, min_size=1, max_size=3),
                "location": place,
                "venue": st.fixed_dictionaries(
                    {
                        "location": place,
                        "title": st.text(max_size=8),
                        "address": st.text(max_size=8),
                    }
                ),
                "contact": st.fixed_dictionaries(
                    {"phone_number": st.text(max_size=12), "first_name": st.text(max_size=8)},
                    optional={"last_name": st.text(max_size=8), "user_id": st.integers(1, 2**40)},
                ),
                "edit_date": st.integers(0, 2**32),
                "message_thread_id": st.integers(1, 99),
                "sender_chat": chat,
                "is_topic_message": st.booleans(),
                "is_automatic_forward": st.booleans(),
                **media,
            },
        )
    )
    if draw(st.booleans()):
        replied = draw(
            st.fixed_dictionaries({"message_id": st.integers(1, 99), "date": st.just(1)})
        )
        replied["chat"] = data["chat"]
        sender = draw(st.none() | user)
        if sender is not None:
            replied["from"] = sender
        data["reply_to_message"] = replied
    return data


@settings(max_examples=300, deadline=None)
@given(data=messages())
def test_fields_equal_what_ptb_builds(data: dict[str, Any]) -> None:
    original = json.loads(json.dumps(data))
    fields = MessageFields.read(data)
    ptb = Message.de_json(json.loads(json.dumps(data)), None)
    assert data == original  # the raw update is left as it came
    for name in (
        "message_id",
        "date",
        "chat",
        "from_user",
        "text",
        "caption",
        "entities",
        "caption_entities",
        "photo",
        "location",
        "venue",
        "contact",
        "message_thread_id",
        "is_topic_message",
        "is_automatic_forward",
    ):
        assert getattr(fields, name) == getattr(ptb, name), name
        assert type(getattr(fields, name)) is type(getattr(ptb, name)), name
    assert fields.chat.to_dict() == ptb.chat.to_dict()
    assert fields.sender_chat == ptb.sender_chat
    assert fields.from_user is None or fields.from_user.full_name == ptb.from_user.full_name
    assert [e.to_dict() for e in fields.entities] == [e.to_dict() for e in ptb.entities]
    for name in MEDIA_TYPES:
        ours = fields.media.get(name)
        assert ours == getattr(ptb, name), name
        if ours is not None:
            assert ours.to_dict() == getattr(ptb, name).to_dict()
    if ptb.reply_to_message is None:
        assert fields.reply_to_message is None
    else:
        assert fields.reply_to_message is not None
        assert fields.reply_to_message.from_user == ptb.reply_to_message.from_user


ADAPTER = offline_telegram()
GOOD = {"message_id": 1, "date": 1700000000, "chat": {"id": 5, "type": "private"}, "text": "hi"}


def parse(update: dict[str, Any]) -> Any:
    body = json.dumps(update).encode()
    return ADAPTER.parse(InboundRequest("POST", "http://x/", {}, {}, body))


@pytest.mark.parametrize(
    "broken",
    [
        {"chat": None},
        {"chat": "5"},
        {"chat": {"type": "private"}},
        {"date": "yesterday"},
        {"date": None},
        {"message_id": None},
        {"entities": {"type": "mention"}},
        {"entities": [{"type": "mention"}]},
        {"photo": [{"file_id": "x"}]},
        {"document": "x"},
        {"reply_to_message": 7},
        {"from": ["x"]},
    ],
)
def test_a_malformed_message_is_refused(broken: dict[str, Any]) -> None:
    message = {**GOOD, "from": {"id": 5, "is_bot": False, "first_name": "A"}}
    message.update(broken)
    message = {k: v for k, v in message.items() if not (v is None and k != "chat")}
    with pytest.raises(WebhookRejected) as refused:
        parse({"update_id": 10, "message": message})
    assert refused.value.status == 400


def test_updates_without_a_message_take_ptb_whole() -> None:
    sender = {"id": 5, "is_bot": False, "first_name": "A"}
    [press] = parse(
        {
            "update_id": 11,
            "callback_query": {
                "id": "q1",
                "from": sender,
                "chat_instance": "c",
                "data": "approve:1",
                "message": {**GOOD, "chat": {"id": -7, "type": "group"}},
            },
        }
    )
    assert (press.kind, press.action, press.chat, press.is_group) == (
        "action",
        "approve:1",
        "-7",
        True,
    )
    [null] = parse({"update_id": 12, "message": None, "my_chat_member": None})
    assert (null.kind, null.hints) == ("unsupported", {"update_type": "message"})
    [channel_post] = parse(
        {"update_id": 13, "channel_post": {**GOOD, "chat": {"id": -9, "type": "channel"}}}
    )
    assert channel_post.kind == "unsupported"
    [no_sender] = parse({"update_id": 14, "message": GOOD})
    assert (no_sender.kind, no_sender.hints) == ("unsupported", {"update_type": "message"})
