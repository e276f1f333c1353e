"""Approvals from the admin API, authorization, expiry and the signed lifecycle webhooks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from approvals.signing import HEADER, sign, verify
from gateway.dev import fake_twilio
from gateway.dev.fake_app_webhook import AppWebhookReceiver
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.dev.mock_core import MockCore
from gateway.storage.db.models import Approval, AuditEntry, WebhookDelivery, utcnow
from tests.auxil import updates
from tests.auxil.cli import cli_env, gateway
from tests.auxil.harness import HOOK_SECRET, SECRET_KEY, Harness, eventually

pytestmark = pytest.mark.asyncio

BASE = "/api/v1/admin/projects/default"
ALICE = "user-alice"
TG_ALICE = updates.USER["id"]
MALLORY = {"id": 555000111, "is_bot": False, "first_name": "Mallory"}
PHONE = "+14155550123"
OTHER_PHONE = "+14155550999"


@pytest_asyncio.fixture
async def hooked(
    db_url: str, app_hook: AppWebhookReceiver, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    """Every channel, the app's approval webhook, identity required (no channel users).
    A test marked `short_ttl` gets approvals that live 2 seconds."""
    h = Harness(db_url, FakeTelegram(), MockCore(), twilio=FakeTwilio(), whatsapp=FakeWhatsApp())
    ttl = {"approval_ttl_seconds": 2} if request.node.get_closest_marker("short_ttl") else {}
    await h.start(
        approval_webhook_url=app_hook.url,
        approval_webhook_secret=HOOK_SECRET,
        unlinked_policy="link_required",
        approval_sweep_seconds=0.1,
        **ttl,
    )
    for channel, sender in (("telegram", str(TG_ALICE)), ("sms", PHONE)):
        status, _ = await h.admin(
            "PUT",
            f"{BASE}/identity-links",
            json={"channel": channel, "sender": sender, "app_user_id": ALICE},
        )
        assert status == 200
    # The links are told to the app too (tests/identity/test_link_events.py); not these tests'.
    await eventually(lambda: len(app_hook.of_type("identity.linked")) == 2, message="links told")
    app_hook.reset()
    try:
        yield h
    finally:
        await h.stop()


async def _approval(h: Harness, approval_id: str) -> Approval:
    assert h.runtime is not None
    async with h.runtime.db.session() as session:
        return (await session.scalars(select(Approval).where(Approval.id == approval_id))).one()


async def _audit(h: Harness, action: str) -> list[AuditEntry]:
    assert h.runtime is not None
    async with h.runtime.db.session() as session:
        rows = await session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(rows.all())


async def _ask(h: Harness, *, channel: str | None = "telegram", ttl: int | None = None) -> dict:
    body: dict = {"app_user_id": ALICE, "tool": "refund", "summary": "Refund order #42 ($30)"}
    if channel:
        body["channel"] = channel
    if ttl:
        body["ttl_seconds"] = ttl
    status, approval = await h.admin("POST", f"{BASE}/approvals", json=body)
    assert status == 201, approval
    return approval


async def test_api_approval_prompts_the_user_and_reports_every_step(
    hooked: Harness, app_hook: AppWebhookReceiver
) -> None:
    approval = await _ask(hooked)
    assert approval["status"] == "pending" and approval["tool"] == "refund"
    assert set(approval) >= {"id", "status", "app_user_id", "tool", "summary", "created_at"}
    prompt = await eventually(
        lambda: [c for c in hooked.telegram.calls_to("sendMessage") if c.params.get("reply_markup")]
    )
    assert prompt[0].params["chat_id"] == TG_ALICE
    status, listed = await hooked.admin("GET", f"{BASE}/approvals?status=pending")
    assert status == 200 and [a["id"] for a in listed["approvals"]] == [approval["id"]]
    status, decided = await hooked.admin("POST", f"{BASE}/approvals/{approval['id']}/approve")
    assert status == 200 and decided["status"] == "approved"
    assert decided["decided_by"] == "admin-api:global"
    status, again = await hooked.admin("POST", f"{BASE}/approvals/{approval['id']}/deny")
    assert status == 409 and again["error"]["code"] == "already_decided"
    status, shown = await hooked.admin("GET", f"{BASE}/approvals/{approval['id']}")
    assert status == 200 and shown["status"] == "approved"
    await eventually(lambda: app_hook.types() == ["approval.pending", "approval.approved"])
    event = app_hook.events[1]
    assert set(event) >= {"event_id", "type", "created_at", "approval"}
    assert event["approval"]["id"] == approval["id"]
    assert event["approval"]["decided_by"] == "admin-api:global"
    assert all(d.signature_ok for d in app_hook.deliveries)
    # The prompt loses its buttons once decided elsewhere.
    await eventually(lambda: hooked.telegram.calls_to("editMessageText"))
    status, missing = await hooked.admin("GET", f"{BASE}/approvals/apr_nope")
    assert status == 404 and missing["error"]["code"] == "not_found"


async def test_api_approval_for_a_user_without_a_linked_channel_is_409(hooked: Harness) -> None:
    body = {"app_user_id": "nobody", "tool": "refund", "summary": "x"}
    status, answer = await hooked.admin("POST", f"{BASE}/approvals", json=body)
    assert status == 409 and answer["error"]["code"] == "no_linked_channel"
    assert await hooked.count(Approval) == 0


async def test_only_the_approvals_own_user_may_decide(hooked: Harness) -> None:
    approval = await _ask(hooked)
    prompt = await eventually(
        lambda: [c for c in hooked.telegram.calls_to("sendMessage") if c.params.get("reply_markup")]
    )
    markup = prompt[0].params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    approve_data = markup["inline_keyboard"][0][0]["callback_data"]
    # A forwarded button pressed by someone else.
    foreign = updates.callback(approve_data)
    foreign["callback_query"]["from"] = MALLORY
    await hooked.post_update(foreign)
    # A forged token, and a well-formed token of nothing.
    await hooked.post_update(updates.callback("ap:AAAAAAAAAAAAAAAAAAAAAAAA:y"))
    await hooked.post_update(updates.callback("ap:not-a-token:y"))
    await eventually(lambda: len(hooked.telegram.calls_to("answerCallbackQuery")) == 3)
    answers = [c.params.get("text") for c in hooked.telegram.calls_to("answerCallbackQuery")]
    assert answers[0] == "Only the person this request is for can decide it."
    assert answers[1] == answers[2] == "That approval button is no longer valid."
    # A different phone naming the request's code.
    code = (await _approval(hooked, approval["id"])).short_code
    await hooked.post_twilio(fake_twilio.inbound_form(from_=OTHER_PHONE, body=f"YES {code}"))
    await eventually(lambda: len(hooked.twilio.sent_bodies(OTHER_PHONE)) >= 1)
    assert (await _approval(hooked, approval["id"])).status == "pending"
    refused = await _audit(hooked, "approval.refused")
    assert len(refused) >= 3
    assert {r.details["reason"] for r in refused} >= {
        "not the approval's app user",
        "unknown approval or token",
    }
    # The owner, from another linked identity (SMS), may decide, naming the code: a bare YES
    # there answers no prompt of that chat, so it is asked for the code and decides nothing.
    await hooked.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="yes"))
    asked = await eventually(lambda: hooked.twilio.sent_bodies(PHONE))
    assert asked[-1] == (
        f"A request is waiting:\n{code}: refund\n"
        f"To decide, reply YES or NO with the code, for example YES {code}."
    )
    assert (await _approval(hooked, approval["id"])).status == "pending"
    await hooked.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=f"yes {code}"))
    await eventually(lambda: _status(hooked, approval["id"], "approved"))


async def _status(h: Harness, approval_id: str, status: str) -> bool:
    return (await _approval(h, approval_id)).status == status


@pytest.mark.short_ttl
async def test_expiry_tells_the_user_and_the_core_hears_no(
    hooked: Harness, app_hook: AppWebhookReceiver
) -> None:
    await hooked.post_update(updates.message("#approval=drop_table now"))
    prompt = await eventually(
        lambda: [c for c in hooked.telegram.calls_to("sendMessage") if c.params.get("reply_markup")]
    )
    assert hooked.runtime is not None
    asked = (await hooked.runtime.approvals.list())[0]
    assert (asked.expires_at - asked.created_at).total_seconds() == 2  # left alone: its TTL
    await eventually(
        lambda: any("expired" in t for t in hooked.telegram.sent_texts()), message="told"
    )
    edits = await eventually(lambda: hooked.telegram.calls_to("editMessageText"))
    assert not edits[0].params.get("reply_markup")
    decisions = await eventually(
        lambda: [
            item
            for r in hooked.core.requests
            if isinstance(r["body"]["input"], list)
            for item in r["body"]["input"]
        ]
    )
    assert decisions[0]["type"] == "mcp_approval_response" and decisions[0]["approve"] is False
    await eventually(lambda: "approval.expired" in app_hook.types())
    # A tap after expiry changes nothing and is answered politely.
    markup = prompt[0].params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    await hooked.post_update(updates.callback(markup["inline_keyboard"][0][0]["callback_data"]))
    await eventually(lambda: hooked.telegram.calls_to("answerCallbackQuery"))
    assert "expired" in hooked.telegram.calls_to("answerCallbackQuery")[0].params["text"]
    approvals = await hooked.runtime.approvals.list()
    assert [a.status for a in approvals] == ["expired"]
    assert app_hook.types().count("approval.expired") == 1
    assert len([r for r in hooked.core.requests if isinstance(r["body"]["input"], list)]) == 1


async def test_webhook_receiver_down_then_up_gets_every_event_in_order(
    hooked: Harness, app_hook: AppWebhookReceiver
) -> None:
    app_hook.status = 500
    first = await _ask(hooked)
    second = await _ask(hooked, channel="sms")
    await hooked.admin("POST", f"{BASE}/approvals/{first['id']}/approve")
    await hooked.admin("POST", f"{BASE}/approvals/{second['id']}/deny")
    await eventually(lambda: len(app_hook.deliveries) >= 6, message="retries while down")
    assert app_hook.events == []
    app_hook.status = 200
    await eventually(lambda: len(app_hook.events) == 4, timeout=20)
    assert app_hook.types(first["id"]) == ["approval.pending", "approval.approved"]
    assert app_hook.types(second["id"]) == ["approval.pending", "approval.denied"]
    assert len({e["event_id"] for e in app_hook.events}) == 4
    # Redeliveries kept their event_id: every delivery attempt names one of the four.
    assert {d.event["event_id"] for d in app_hook.deliveries} == {
        e["event_id"] for e in app_hook.events
    }
    delivered = (
        WebhookDelivery.status == "delivered",
        WebhookDelivery.event_type != "identity.linked",
    )
    # The receiver records an event before its 200 reaches the gateway, which then marks the
    # delivery: the last mark may land just after the receiver's count reached four.
    await eventually(
        lambda: hooked.count_is(4, WebhookDelivery, *delivered), message="marked delivered"
    )
    # The signature scheme, as documented, and a wrong secret fails.
    delivery = app_hook.deliveries[-1]
    header = delivery.headers[HEADER]
    assert verify(HOOK_SECRET, delivery.body, header)
    assert not verify("wrong-secret", delivery.body, header)
    assert not verify(HOOK_SECRET, delivery.body + b" ", header)
    old = sign(HOOK_SECRET, delivery.body, timestamp=1_000_000_000)
    assert not verify(HOOK_SECRET, delivery.body, old)  # outside the tolerance: a replay


async def test_fifty_concurrent_decisions_make_one_transition(
    hooked: Harness, app_hook: AppWebhookReceiver
) -> None:
    approval = await _ask(hooked)
    prompt = await eventually(
        lambda: [c for c in hooked.telegram.calls_to("sendMessage") if c.params.get("reply_markup")]
    )
    markup = prompt[0].params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    buttons = [b["callback_data"] for b in markup["inline_keyboard"][0]]
    assert hooked.runtime is not None
    runtime = hooked.runtime
    approval_id = approval["id"]
    code = (await _approval(hooked, approval_id)).short_code

    async def api(verdict: str) -> None:
        await hooked.admin("POST", f"{BASE}/approvals/{approval_id}/{verdict}")

    async def service(verdict: str) -> None:  # what `gateway approvals approve|deny` calls
        await runtime.approvals.decide(
            approval_id=approval_id, verdict=verdict, actor="cli", source="cli"
        )

    async def sweeper() -> None:
        await runtime.approvals.expire_overdue()

    async with runtime.db.engine.begin() as conn:  # due now: the sweeper races too
        await conn.execute(update(Approval).values(expires_at=utcnow() + timedelta(seconds=0.3)))
    racers = []
    for i in range(50):
        kind = i % 5
        if kind == 0:
            racers.append(hooked.post_update(updates.callback(buttons[i % 2])))
        elif kind == 1:
            racers.append(api("approve" if i % 2 else "deny"))
        elif kind == 2:
            racers.append(service("approved" if i % 2 else "denied"))
        elif kind == 3:
            answer = f"yes {code}"  # prompted on Telegram: from SMS, only with the code
            racers.append(hooked.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=answer)))
        else:
            racers.append(sweeper())
    env = cli_env(hooked.db_url, hooked.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    for verdict in ("approve", "deny"):  # the real CLI, as separate processes
        racers.append(gateway("approvals", verdict, approval_id, env=env))
    await asyncio.sleep(0.3)
    await asyncio.gather(*racers)
    final = await eventually(lambda: _decided(hooked, approval_id))
    transitions = [e for e in await _audit(hooked, f"approval.{final}") if e.subject == approval_id]
    assert len(transitions) == 1
    decided_events = await hooked.count(
        WebhookDelivery,
        WebhookDelivery.approval_id == approval_id,
        WebhookDelivery.event_type != "approval.pending",
    )
    assert decided_events == 1
    await asyncio.sleep(0.5)
    assert (
        await hooked.count(
            WebhookDelivery,
            WebhookDelivery.approval_id == approval_id,
            WebhookDelivery.event_type != "approval.pending",
        )
        == 1
    )


async def _decided(h: Harness, approval_id: str) -> str | None:
    status = (await _approval(h, approval_id)).status
    return None if status == "pending" else status


async def test_a_delivery_is_dead_only_after_the_retry_window_and_can_be_resent(
    db_url: str, app_hook: AppWebhookReceiver
) -> None:
    """Retried with backoff through the whole window (here 2 s, in production 24 h) and at least
    ten attempts; then `dead`, with its reason; `webhooks retry` sends it again, same event_id."""
    from approvals.webhooks import MIN_ATTEMPTS, list_deliveries, retry_deliveries

    h = Harness(db_url, FakeTelegram(), MockCore(), twilio=FakeTwilio(), whatsapp=FakeWhatsApp())
    await h.start(
        approval_webhook_url=app_hook.url,
        approval_webhook_secret=HOOK_SECRET,
        webhook_retry_hours=2 / 3600,
        webhook_retry_cap_seconds=0.1,
    )
    try:
        app_hook.status = 503
        await h.post_update(updates.message("#approval=nightly_job run"))
        assert h.runtime is not None
        db = h.runtime.db

        async def dead() -> list:
            return await list_deliveries(db, status="dead")

        found = await eventually(dead, timeout=20)
        assert found[0].attempts >= MIN_ATTEMPTS
        assert (found[0].last_status, found[0].last_error) == (503, "http_5xx")  # a class only
        assert (found[0].created_at + timedelta(seconds=2)) <= utcnow()
        assert app_hook.events == [] and len(app_hook.deliveries) >= MIN_ATTEMPTS
        app_hook.status = 200
        assert await retry_deliveries(db, None) == 1
        await eventually(lambda: app_hook.types() == ["approval.pending"])
        assert app_hook.events[0]["event_id"] == found[0].event_id
    finally:
        await h.stop()
