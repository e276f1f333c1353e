"""The core's conversation contract end to end: the `conversation` id the gateway owns (one per
private chat, one per person in a group; new after `/new` and identity changes), the chaining mode
for cores that only support `previous_response_id`, the approval continuation in both, and the
opaque `user` of unlinked senders."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from gateway.dev import fake_twilio
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

BASE = "/api/v1/admin/projects/default"
GROUP = -1001234567890
PHONE = "+14155550177"


def _bodies(gw: Harness) -> list[dict[str, Any]]:
    return [r["body"] for r in gw.core.requests]


async def _say(gw: Harness, text: str, *, user_id: int = 123456789, **kw: Any) -> dict[str, Any]:
    """Send a Telegram message; the core request it made."""
    before = len(gw.core.requests)
    user = {**updates.USER, "id": user_id}
    chat = kw.pop("chat_id", user_id)
    assert (await gw.post_update(updates.message(text, chat_id=chat, user=user, **kw))).status
    await eventually(lambda: len(gw.core.requests) > before, message=text)
    return gw.core.requests[-1]["body"]


async def _replied(gw: Harness, user_id: int, text: str) -> None:
    """Until the chat got the echo of `text` (the turn's writes are committed by then)."""
    await eventually(
        lambda: any(f"Echo: {text}" in t for t in gw.telegram.sent_texts(user_id)), message=text
    )


async def _command(gw: Harness, text: str, user_id: int = 123456789) -> None:
    """An in-chat command (answered by the gateway, not the core)."""
    before = len(gw.telegram.sent_texts(user_id))
    user = {**updates.USER, "id": user_id}
    await gw.post_update(updates.message(text, chat_id=user_id, user=user))
    await eventually(lambda: len(gw.telegram.sent_texts(user_id)) > before, message=text)


async def _threading(gw: Harness, mode: str) -> None:
    status, body = await gw.admin("PATCH", BASE, json={"threading": mode})
    assert status == 200 and body["threading"] == mode, body


async def test_a_private_chat_keeps_one_conversation_until_new(gw: Harness) -> None:
    first = await _say(gw, "hello")
    second = await _say(gw, "again")
    assert re.fullmatch(r"conv_[0-9a-f]{32}", first["conversation"])
    assert second["conversation"] == first["conversation"]
    assert "previous_response_id" not in first and "previous_response_id" not in second
    # The mock core saw the conversation's earlier turn.
    await eventually(lambda: "Echo: again (turn 2)" in gw.telegram.sent_texts())
    turns = await eventually(lambda: _with_turns(gw, 2))
    assert [t.conversation for t in turns] == [first["conversation"]] * 2

    await _command(gw, "/new")
    third = await _say(gw, "fresh start")
    assert third["conversation"] != first["conversation"]
    await eventually(lambda: "Echo: fresh start" in gw.telegram.sent_texts())


async def _with_turns(gw: Harness, count: int) -> list[Any]:
    turns = await gw.turns()
    return turns if len(turns) >= count else []


async def test_two_people_in_one_group_have_their_own_conversations(gw: Harness) -> None:
    ana = await _say(gw, "@gateway_demo_bot hi", user_id=11, chat_id=GROUP, chat_type="group")
    bo = await _say(gw, "@gateway_demo_bot hi", user_id=12, chat_id=GROUP, chat_type="group")
    again = await _say(gw, "@gateway_demo_bot more", user_id=11, chat_id=GROUP, chat_type="group")
    private = await _say(gw, "just me", user_id=11)
    assert ana["conversation"] != bo["conversation"]
    assert again["conversation"] == ana["conversation"]
    assert private["conversation"] not in (ana["conversation"], bo["conversation"])


async def test_previous_response_threading_still_chains(gw: Harness) -> None:
    await _threading(gw, "previous_response")
    await _say(gw, "one")
    await eventually(lambda: "Echo: one" in gw.telegram.sent_texts())
    second = await _say(gw, "two")
    turns = await eventually(lambda: _with_turns(gw, 2))
    assert "conversation" not in second
    assert second["previous_response_id"] == turns[0].response_id
    assert turns[1].conversation is None
    await eventually(lambda: "Echo: two (turn 2)" in gw.telegram.sent_texts())
    await _command(gw, "/new")
    third = await _say(gw, "three")
    assert "previous_response_id" not in third and "conversation" not in third


def _buttons(gw: Harness) -> list[dict[str, Any]]:
    prompts = [c for c in gw.telegram.calls_to("sendMessage") if c.params.get("reply_markup")]
    if not prompts:
        return []
    markup = prompts[0].params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return list(markup["inline_keyboard"][0])


@pytest.mark.parametrize("mode", ["conversation", "previous_response"])
async def test_the_approval_continuation_works_in_both_modes(gw: Harness, mode: str) -> None:
    await _threading(gw, mode)
    asked = await _say(gw, "#approval=delete_repo clean up")
    buttons = await eventually(lambda: _buttons(gw), message="the approval prompt")
    # A /new before the decision: the continuation still answers where it was asked.
    await _command(gw, "/new")
    await gw.post_update(updates.callback(buttons[0]["callback_data"]))
    await eventually(lambda: "Approved: delete_repo" in gw.telegram.sent_texts())
    continued = [b for b in _bodies(gw) if isinstance(b["input"], list)]
    assert len(continued) == 1
    turns = await eventually(lambda: _with_turns(gw, 2))
    if mode == "conversation":
        assert continued[0]["conversation"] == asked["conversation"]
        assert "previous_response_id" not in continued[0]
        assert turns[1].conversation == asked["conversation"]
    else:
        assert continued[0]["previous_response_id"] == turns[0].response_id
        assert "conversation" not in continued[0]
    if mode == "conversation":  # the /new still holds for the next message
        after = await _say(gw, "next")
        assert after["conversation"] != asked["conversation"]


async def test_an_unlinked_sms_sender_is_never_a_phone_number_to_the_core(gw: Harness) -> None:
    assert gw.twilio is not None
    for text in ("hi there", "second one", "#approval=pay_bill please"):
        await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=text))
    await eventually(lambda: len(gw.core.requests) >= 3)
    await eventually(lambda: len(gw.twilio.sent_bodies(PHONE)) >= 3)
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="YES"))
    await eventually(lambda: any("Approved: pay_bill" in b for b in gw.twilio.sent_bodies(PHONE)))
    expected = await gw.core_user("sms", PHONE)
    assert re.fullmatch(r"anon_[0-9a-f]{32}", expected)
    digits = PHONE.lstrip("+")
    assert len(gw.core.requests) == 4
    for request in gw.core.requests:
        assert request["body"]["user"] == expected
        assert request["body"]["metadata"]["source"] == "sms"
        seen = json.dumps(request)  # body and headers alike
        assert digits not in seen and digits[-7:] not in seen, seen


async def test_link_and_unlink_start_new_conversations(gw: Harness) -> None:
    user_id = 4242
    before = await _say(gw, "before linking", user_id=user_id)
    status, code = await gw.admin(
        "POST", f"{BASE}/link-codes", json={"app_user_id": "user-lin", "ttl_seconds": 600}
    )
    assert status == 201, code
    await _command(gw, f"/link {code['code']}", user_id)  # linked from the chat
    linked = await _say(gw, "now linked", user_id=user_id)
    assert linked["user"] == "user-lin"
    assert linked["conversation"] != before["conversation"]
    same = await _say(gw, "still linked", user_id=user_id)
    assert same["conversation"] == linked["conversation"]
    # The operator acts once that turn is written (its reply sent): an unlink that races a turn
    # of the sender still in flight is the next test's case.
    await _replied(gw, user_id, "still linked")

    # Unlinked by an operator (admin API): the sender's next message starts anew.
    status, _ = await gw.admin("DELETE", f"{BASE}/identity-links/telegram/{user_id}")
    assert status in (200, 204)
    unlinked = await _say(gw, "unlinked now", user_id=user_id)
    assert unlinked["user"].startswith("anon_")
    assert unlinked["conversation"] not in (before["conversation"], linked["conversation"])
    await _replied(gw, user_id, "unlinked now")

    # Linked by an operator, then unlinked from the chat.
    status, _ = await gw.admin(
        "PUT",
        f"{BASE}/identity-links",
        json={"channel": "telegram", "sender": str(user_id), "app_user_id": "user-lin"},
    )
    assert status in (200, 201)
    relinked = await _say(gw, "linked again", user_id=user_id)
    assert relinked["conversation"] != unlinked["conversation"]
    await _command(gw, "/unlink", user_id)
    last = await _say(gw, "bye", user_id=user_id)
    assert last["conversation"] != relinked["conversation"]


@pytest.mark.parametrize("mode", ["conversation", "previous_response"])
async def test_a_turn_in_flight_during_an_unlink_does_not_carry_its_thread_over(
    gw: Harness, mode: str
) -> None:
    """The operator unlinks while the linked sender's turn waits on the core: that turn answers
    and is written after the unlink cleared the sender's conversations, yet the sender's next
    (unlinked) message must not continue the linked user's conversation or chain."""
    await _threading(gw, mode)
    user_id = 4343
    link = {"channel": "telegram", "sender": str(user_id), "app_user_id": "user-race"}
    assert (await gw.admin("PUT", f"{BASE}/identity-links", json=link))[0] == 200
    first = await _say(gw, "linked first", user_id=user_id)
    await _replied(gw, user_id, "linked first")
    written = len(await gw.turns())
    gw.core.controls.delay_seconds = 2.0
    in_flight = await _say(gw, "linked in flight", user_id=user_id)  # the core holds it 2 s
    assert in_flight["user"] == "user-race"
    status, _ = await gw.admin("DELETE", f"{BASE}/identity-links/telegram/{user_id}")
    assert status in (200, 204)
    assert len(await gw.turns()) == written  # the unlink came before the turn was written
    await _replied(gw, user_id, "linked in flight")
    gw.core.controls.delay_seconds = 0.0
    after = await _say(gw, "unlinked after", user_id=user_id)
    assert after["user"].startswith("anon_")
    if mode == "conversation":
        assert in_flight["conversation"] == first["conversation"]
        assert after["conversation"] != first["conversation"]
    else:
        assert "previous_response_id" not in after
    await _replied(gw, user_id, "unlinked after")
    head = (await gw.turns())[-1].response_id
    again = await _say(gw, "unlinked again", user_id=user_id)  # and it goes on from there
    if mode == "conversation":
        assert again["conversation"] == after["conversation"]
    else:
        assert again["previous_response_id"] == head


async def _in_group(gw: Harness, user_id: int, text: str, turns: int) -> dict[str, Any]:
    """A message to the bot in the group from `user_id`; waits for its turn to finish (the
    `turns`-th), so the next one may chain from it."""
    body = await _say(gw, f"@gateway_demo_bot {text}", user_id=user_id, chat_id=GROUP,
                      chat_type="group")  # fmt: skip
    await eventually(lambda: _with_turns(gw, turns), message=text)
    return body


@pytest.mark.parametrize("mode", ["conversation", "previous_response"])
async def test_in_a_group_no_one_continues_another_persons_thread(gw: Harness, mode: str) -> None:
    await _threading(gw, mode)
    ana = await _in_group(gw, 11, "I am Ana", 1)
    bo = await _in_group(gw, 12, "I am Bo", 2)
    ana_again = await _in_group(gw, 11, "Ana again", 3)
    bo_again = await _in_group(gw, 12, "Bo again", 4)
    turns = await gw.turns()
    if mode == "conversation":
        assert ana["conversation"] == ana_again["conversation"]
        assert bo["conversation"] == bo_again["conversation"] != ana["conversation"]
        assert not any("previous_response_id" in b for b in (ana, bo, ana_again, bo_again))
    else:
        # Bo's first message chains from nothing, though Ana's answer came just before it.
        assert "previous_response_id" not in bo and "conversation" not in bo
        assert ana_again["previous_response_id"] == turns[0].response_id
        assert bo_again["previous_response_id"] == turns[1].response_id
    # What the core answered Bo: his own first turn, then his second; never Ana's third.
    expected = {"Echo: I am Bo", "Echo: Bo again (turn 2)", "Echo: Ana again (turn 2)"}
    await eventually(lambda: expected <= set(gw.telegram.sent_texts(GROUP)), message="answers")


@pytest.mark.parametrize("mode", ["conversation", "previous_response"])
async def test_unlinking_in_a_group_starts_anew_for_that_person_only(
    gw: Harness, mode: str
) -> None:
    await _threading(gw, mode)
    for user_id, app_user in ((11, "user-ana"), (12, "user-bo")):
        link = {"channel": "telegram", "sender": str(user_id), "app_user_id": app_user}
        assert (await gw.admin("PUT", f"{BASE}/identity-links", json=link))[0] == 200
    ana = await _in_group(gw, 11, "linked Ana", 1)
    bo = await _in_group(gw, 12, "linked Bo", 2)
    assert (ana["user"], bo["user"]) == ("user-ana", "user-bo")
    await _command(gw, "/unlink", 11)  # in Ana's private chat: her group thread ends too
    ana_after = await _in_group(gw, 11, "Ana unlinked", 3)
    bo_after = await _in_group(gw, 12, "Bo still", 4)
    turns = await gw.turns()
    assert ana_after["user"].startswith("anon_") and bo_after["user"] == "user-bo"
    if mode == "conversation":
        assert ana_after["conversation"] not in (ana["conversation"], bo["conversation"])
        assert bo_after["conversation"] == bo["conversation"]
    else:
        assert "previous_response_id" not in ana_after
        assert bo_after["previous_response_id"] == turns[1].response_id
    expected = {"Echo: Ana unlinked", "Echo: Bo still (turn 2)"}
    await eventually(lambda: expected <= set(gw.telegram.sent_texts(GROUP)), message="answers")
