"""Approvals end to end: the core asks, the user decides on their channel, the turn continues."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from gateway.dev import fake_twilio, fake_whatsapp
from gateway.storage.db.models import Approval
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

pytestmark = pytest.mark.asyncio

PHONE = "+14155550123"
WA_ID = "16505551234"


def _decisions(harness: Harness) -> list[dict[str, Any]]:
    """Every mcp_approval_response the core received, in order."""
    return [
        item
        for request in harness.core.requests
        if isinstance(request.get("body", {}).get("input"), list)
        for item in request["body"]["input"]
        if item.get("type") == "mcp_approval_response"
    ]


async def _approvals(harness: Harness) -> list[Approval]:
    assert harness.runtime is not None
    async with harness.runtime.db.session() as session:
        return list((await session.scalars(select(Approval).order_by(Approval.created_at))).all())


def _keyboard(call: Any) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    return markup["inline_keyboard"][0] if markup else []


@pytest.mark.parametrize("verdict", ["approve", "deny"])
async def test_telegram_buttons_decide_and_the_turn_continues(gw: Harness, verdict: str) -> None:
    await gw.post_update(updates.message("#approval=delete_repo clean up the repo"))
    prompt = await eventually(
        lambda: [c for c in gw.telegram.calls_to("sendMessage") if c.params.get("reply_markup")],
        message="a prompt with buttons",
    )
    buttons = _keyboard(prompt[0])
    assert [b["text"] for b in buttons] == ["Approve", "Deny"]
    approval = (await _approvals(gw))[0]
    assert approval.id not in json.dumps(buttons)  # a token, never the approval id
    data = buttons[0 if verdict == "approve" else 1]["callback_data"]
    await gw.post_update(updates.callback(data))
    expected = "Approved: delete_repo" if verdict == "approve" else "Denied: delete_repo"
    await eventually(
        lambda: any(expected in t for t in gw.telegram.sent_texts()), message="final answer"
    )
    decisions = _decisions(gw)
    assert len(decisions) == 1
    assert decisions[0]["approve"] is (verdict == "approve")
    assert decisions[0]["approval_request_id"] == approval.core_request_id
    continued = [r for r in gw.core.requests if isinstance(r["body"].get("input"), list)]
    # The decision goes back in the conversation that asked (tests/turn/test_conversations.py).
    asked = gw.core.requests[0]["body"]["conversation"]
    assert continued[0]["body"]["conversation"] == asked
    edits = await eventually(lambda: gw.telegram.calls_to("editMessageText"))
    assert "reply_markup" not in edits[0].params or not edits[0].params["reply_markup"]
    answers = gw.telegram.calls_to("answerCallbackQuery")
    assert answers and answers[0].params.get("text") in ("Approved.", "Denied.")
    status = "approved" if verdict == "approve" else "denied"
    assert [a.status for a in await _approvals(gw)] == [status]
    # A second tap changes nothing and is answered politely.
    await gw.post_update(updates.callback(data))
    await eventually(lambda: len(gw.telegram.calls_to("answerCallbackQuery")) == 2)
    assert "already" in gw.telegram.calls_to("answerCallbackQuery")[1].params["text"]
    assert len(_decisions(gw)) == 1


@pytest.mark.parametrize("verdict", ["approve", "deny"])
async def test_whatsapp_reply_buttons_decide(gw: Harness, verdict: str) -> None:
    ask = fake_whatsapp.text_message(WA_ID, "#approval=send_invoice to ACME")
    await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[ask]))
    prompt = await eventually(
        lambda: [m for m in gw.whatsapp.messages if m.get("type") == "interactive"],
        message="an interactive prompt",
    )
    buttons = prompt[0]["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Approve", "Deny"]
    reply = buttons[0 if verdict == "approve" else 1]["reply"]
    tap = fake_whatsapp.button_reply(WA_ID, reply["id"], reply["title"], context_id=prompt[0]["id"])
    await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[tap]))
    expected = "Approved: send_invoice" if verdict == "approve" else "Denied: send_invoice"
    await eventually(lambda: any(expected in t for t in gw.whatsapp.sent_texts()))
    assert [d["approve"] for d in _decisions(gw)] == [verdict == "approve"]


@pytest.mark.parametrize(
    ("address", "answer"), [(PHONE, "YES"), (PHONE, "no"), ("wa", "Yes!"), ("wa", "Deny")]
)
async def test_text_replies_decide_on_sms_and_twilio_whatsapp(
    gw: Harness, address: str, answer: str
) -> None:
    sender = f"whatsapp:{PHONE}" if address == "wa" else PHONE
    await gw.post_twilio(fake_twilio.inbound_form(from_=sender, body="#approval=wire_money now"))
    prompt = await eventually(
        lambda: [b for b in gw.twilio.sent_bodies(sender) if "Reply YES" in b],
        message="a YES/NO prompt",
    )
    assert prompt[0].endswith("Reply YES to approve or NO to deny.")
    await gw.post_twilio(fake_twilio.inbound_form(from_=sender, body=answer))
    approve = answer.lower().startswith("y")
    expected = "Approved: wire_money" if approve else "Denied: wire_money"
    await eventually(lambda: any(expected in b for b in gw.twilio.sent_bodies(sender)))
    assert [d["approve"] for d in _decisions(gw)] == [approve]
    # The YES was a decision, not a message for the agent.
    assert not any(r["body"].get("input") == answer for r in gw.core.requests)
    assert (await _approvals(gw))[0].channel == ("whatsapp" if address == "wa" else "sms")


async def test_a_bare_answer_decides_only_the_latest_prompt_of_the_chat(gw: Harness) -> None:
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="#approval=first_tool a"))
    await eventually(lambda: any("Reply YES" in b for b in gw.twilio.sent_bodies(PHONE)))
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="#approval=second_tool b"))
    second = await eventually(
        lambda: [b for b in gw.twilio.sent_bodies(PHONE) if "second_tool" in b and "Reply" in b]
    )
    approvals = await _approvals(gw)
    first_code, code = approvals[0].short_code, approvals[1].short_code
    assert re.fullmatch(r"\d{6}", code) and re.fullmatch(r"\d{6}", first_code)
    assert f"Reply YES {code} to approve or NO {code} to deny." in second[0]
    # A bare YES answers the latest prompt of this chat: the second request.
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="yes"))
    await eventually(lambda: any("Approved: second_tool" in b for b in gw.twilio.sent_bodies()))
    assert [a.status for a in await _approvals(gw)] == ["pending", "approved"]
    # The latest prompt here is decided: a bare NO decides nothing, not even the older pending
    # request (prompted before it); the user is asked for the code.
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="No"))
    await eventually(lambda: any("A request is waiting" in b for b in gw.twilio.sent_bodies()))
    assert f"{first_code}: first_tool" in gw.twilio.sent_bodies(PHONE)[-1]
    assert [a.status for a in await _approvals(gw)] == ["pending", "approved"]
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=f"NO {first_code}"))
    await eventually(lambda: any("Denied: first_tool" in b for b in gw.twilio.sent_bodies()))
    assert [a.status for a in await _approvals(gw)] == ["denied", "approved"]
    # Nothing waits any more: a bare YES is an ordinary message for the agent.
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="YES"))
    await eventually(lambda: any(r["body"].get("input") == "YES" for r in gw.core.requests))


async def test_a_core_response_with_two_requests_gets_two_approvals(gw: Harness) -> None:
    await gw.post_update(updates.message("#approval=tool_a,tool_b do both"))
    await eventually(
        lambda: (
            len([c for c in gw.telegram.calls_to("sendMessage") if c.params.get("reply_markup")])
            == 2
        )
    )
    approvals = await _approvals(gw)
    assert sorted(a.tool for a in approvals) == ["tool_a", "tool_b"]
    first, second = (_keyboard(c) for c in gw.telegram.calls_to("sendMessage")[-2:])
    await gw.post_update(updates.callback(first[0]["callback_data"]))
    await eventually(lambda: len(gw.telegram.calls_to("editMessageText")) == 1)
    assert _decisions(gw) == []  # the core hears back once both are decided
    await gw.post_update(updates.callback(second[1]["callback_data"]))
    await eventually(lambda: len(_decisions(gw)) == 2)
    verdicts = {d["approval_request_id"]: d["approve"] for d in _decisions(gw)}
    by_tool = {a.tool: a.core_request_id for a in approvals}
    assert verdicts == {by_tool["tool_a"]: True, by_tool["tool_b"]: False}


async def test_trace_tells_the_approval_story(gw: Harness) -> None:
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="#approval=close_account"))
    await eventually(lambda: any("Reply YES" in b for b in gw.twilio.sent_bodies(PHONE)))
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="no"))
    await eventually(lambda: any("Denied: close_account" in b for b in gw.twilio.sent_bodies()))
    approval = (await _approvals(gw))[0]
    status, story = await gw.admin("GET", f"/api/v1/admin/projects/default/turns/{approval.id}")
    assert status == 200, story
    told = story["approvals"][0]
    assert told["id"] == approval.id and told["status"] == "denied"
    assert told["decision_source"] == "sms"
    assert PHONE not in json.dumps(story) and PHONE[-4:] in told["decided_by"]
    # The continuation turn tells the same approval from the other side.
    assert gw.runtime is not None
    turns = await gw.turns()
    assert len(turns) == 2 and turns[1].conversation == turns[0].conversation
    status, resumed = await gw.admin(
        "GET", f"/api/v1/admin/projects/default/turns/{turns[1].response_id}"
    )
    assert status == 200 and resumed["inbound"]["kind"] == "resume"
    assert [a["id"] for a in resumed["approvals"]] == [approval.id]


async def _link(harness: Harness, channel: str, sender: str, app_user: str) -> None:
    status, body = await harness.admin(
        "PUT",
        "/api/v1/admin/projects/default/identity-links",
        json={"channel": channel, "sender": sender, "app_user_id": app_user},
    )
    assert status == 200, body


async def test_a_bare_yes_never_decides_an_approval_prompted_in_another_chat(gw: Harness) -> None:
    """One person, one Twilio number, two chats: SMS from +1..., WhatsApp from whatsapp:+1...
    (the same route, account and number; another channel and chat address)."""
    whatsapp = f"whatsapp:{PHONE}"
    await _link(gw, "sms", PHONE, "user-two-chats")
    await _link(gw, "whatsapp", PHONE.lstrip("+"), "user-two-chats")
    await gw.post_twilio(fake_twilio.inbound_form(from_=whatsapp, body="#approval=wire_money x"))
    await eventually(lambda: any("Reply YES" in b for b in gw.twilio.sent_bodies(whatsapp)))
    [approval] = await _approvals(gw)
    assert (approval.route, approval.channel, approval.chat) == ("sms", "whatsapp", whatsapp)
    for answer in ("YES", "no"):
        before = len(gw.twilio.sent_bodies(PHONE))
        await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=answer))
        asked = await eventually(lambda n=before: gw.twilio.sent_bodies(PHONE)[n:])
        assert asked == [
            f"A request is waiting:\n{approval.short_code}: wire_money\n"
            f"To decide, reply YES or NO with the code, for example YES {approval.short_code}."
        ]
    assert [a.status for a in await _approvals(gw)] == ["pending"]
    assert _decisions(gw) == [] and len(gw.core.requests) == 1  # nor sent to the agent
    # In the chat that was prompted, the bare answer decides it.
    await gw.post_twilio(fake_twilio.inbound_form(from_=whatsapp, body="yes"))
    await eventually(lambda: any("Approved: wire_money" in b for b in gw.twilio.sent_bodies()))
    assert [d["approve"] for d in _decisions(gw)] == [True]


async def test_other_words_are_ordinary_messages_even_with_a_prompt_waiting(gw: Harness) -> None:
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="#approval=wire_money x"))
    await eventually(lambda: any("Reply YES" in b for b in gw.twilio.sent_bodies(PHONE)))
    words = ("y", "n", "ok", "approved", "yes please", "no thanks", "YES 12")
    for word in words:
        await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=word))
    await eventually(lambda: len(gw.core.requests) == 1 + len(words), message="all forwarded")
    assert [r["body"]["input"] for r in gw.core.requests[1:]] == list(words)
    assert [a.status for a in await _approvals(gw)] == ["pending"]


async def test_prompts_sent_together_need_the_code(gw: Harness) -> None:
    """One core response asking for two tools: neither prompt is the latest, a bare YES would
    have to guess."""
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="#approval=tool_a,tool_b go"))
    await eventually(lambda: len([b for b in gw.twilio.sent_bodies(PHONE) if "Reply" in b]) == 2)
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="yes"))
    await eventually(lambda: any("several requests" in b for b in gw.twilio.sent_bodies(PHONE)))
    assert [a.status for a in await _approvals(gw)] == ["pending", "pending"]
    first = (await _approvals(gw))[0]
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=f"yes {first.short_code}"))

    async def decided() -> bool:
        return {a.id: a.status for a in await _approvals(gw)}[first.id] == "approved"

    await eventually(decided)
