"""Telegram updates the gateway does not use (issue 24, item 10): recorded as unsupported with
their type, whatever their shape; only `callback_query` is built with PTB's types, and a
malformed `message` is still refused.

Update types from the Bot API's Update object (core.telegram.org/bots/api#update)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from channels.telegram import TelegramAdapter
from gateway.messages import AccountInfo, InboundEvent, InboundRequest, WebhookRejected
from tests.auxil import updates

USED = frozenset({"update_id", "message", "edited_message", "callback_query"})
DOCUMENTED_UNUSED = [
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@pytest.fixture
def adapter() -> TelegramAdapter:
    secrets = {"token": "123:abc", "webhook_secret": "s"}
    return TelegramAdapter(AccountInfo("default", "telegram", "default", secrets, {}))


def parse(adapter: TelegramAdapter, update: dict[str, Any]) -> InboundEvent:
    [event] = adapter.parse(InboundRequest("POST", "/", {}, {}, json.dumps(update).encode()))
    return event


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from(DOCUMENTED_UNUSED) | st.text(min_size=1, max_size=12),
    value=JSON.filter(lambda v: v is not None),
)
def test_any_unused_update_is_unsupported_whatever_its_shape(field: str, value: Any) -> None:
    assume(field not in USED)
    secrets = {"token": "123:abc", "webhook_secret": "s"}
    adapter = TelegramAdapter(AccountInfo("default", "telegram", "default", secrets, {}))
    event = parse(adapter, {"update_id": 7, field: value})
    assert (event.kind, event.hints) == ("unsupported", {"update_type": field})
    assert event.event_id == "7"


def test_an_update_with_nothing_in_it_is_unsupported(adapter: TelegramAdapter) -> None:
    event = parse(adapter, {"update_id": 8, "message": None, "poll": None})
    assert (event.kind, event.hints) == ("unsupported", {"update_type": "message"})
    assert parse(adapter, {"update_id": 9}).hints == {"update_type": "unknown"}


def test_a_button_press_is_still_read(adapter: TelegramAdapter) -> None:
    event = parse(adapter, updates.callback("appr:7f3a:yes", chat_id=42))
    assert (event.kind, event.action, event.chat) == ("action", "appr:7f3a:yes", "42")
    assert event.hints["callback_query_id"].startswith("cbq")


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 9, "message": {"text": "no chat, no id"}},
        {"update_id": 10, "edited_message": "not an object"},
        {"update_id": 11, "callback_query": {"id": "1", "data": "x"}},  # no `from`
    ],
    ids=["message", "edited_message", "callback_query"],
)
def test_a_malformed_update_of_a_used_type_is_refused(
    adapter: TelegramAdapter, update: dict[str, Any]
) -> None:
    with pytest.raises(WebhookRejected) as info:
        parse(adapter, update)
    assert info.value.status == 400
