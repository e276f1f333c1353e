"""Core-owned approvals: the mock core creates one for the turn's user, the gateway prompts the
user on their channel, the decision reaches the core's admin API once; decisions made in the core
and expiry update the prompt; forged and replayed lifecycle events change nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from yarl import URL

from approvals.signing import HEADER, sign
from gateway.dev import fake_twilio
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.dev.mock_core import MockCore
from gateway.storage.db.models import Approval, CoreEvent
from tests.auxil import updates
from tests.auxil.cli import cli_env, gateway, ok
from tests.auxil.harness import SECRET_KEY, Harness, eventually

pytestmark = pytest.mark.asyncio

BASE = "/api/v1/admin/projects/default"
EVENTS_SECRET = "core-events-secret-for-tests"
ALICE = "user-alice"
TG_ALICE = updates.USER["id"]
PHONE = "+14155550123"


async def _start(db_url: str, *, events: bool, poll: float, ttl: float = 600) -> Harness:
    core = MockCore()
    core.core_approvals.settings.ttl_seconds = ttl
    h = Harness(db_url, FakeTelegram(), core, twilio=FakeTwilio(), whatsapp=FakeWhatsApp())
    await h.start(
        unlinked_policy="link_required",
        approval_sweep_seconds=0.1,
        genaug_project_id=core.core_approvals.settings.project_id,
        genaug_admin_key=core.core_approvals.settings.admin_key,
        genaug_webhook_secret=EVENTS_SECRET,
        core_approval_poll_seconds=poll,
    )
    # The poll at start is done before a test creates the core's approvals (with a slow poll,
    # the only one: events alone must do).
    await eventually(lambda: core.core_approvals.list_requests, message="first poll")
    if events:
        core.core_approvals.settings.events_url = f"{h.base_url}/webhooks/core/default"
        core.core_approvals.settings.events_secret = EVENTS_SECRET
    for channel, sender in (("telegram", str(TG_ALICE)), ("sms", PHONE)):
        status, _ = await h.admin(
            "PUT",
            f"{BASE}/identity-links",
            json={"channel": channel, "sender": sender, "app_user_id": ALICE},
        )
        assert status == 200
    return h


@pytest_asyncio.fixture
async def owned(db_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """Events on, the poll slow (events alone must do). `short_ttl`: the core's approvals live
    1 second."""
    ttl = 1.0 if request.node.get_closest_marker("short_ttl") else 600.0
    h = await _start(db_url, events=True, poll=3600, ttl=ttl)
    try:
        yield h
    finally:
        await h.stop()


@pytest_asyncio.fixture
async def polled(db_url: str) -> AsyncIterator[Harness]:
    """No events from the core: the poll is the only way in."""
    h = await _start(db_url, events=False, poll=0.2)
    try:
        yield h
    finally:
        await h.stop()


async def _polls_settled(core: MockCore, quiet: float = 1.0) -> None:
    """Until no pending list has been asked for during `quiet` seconds (longer than the loop's
    pause between passes)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen = core.core_approvals.list_requests
        await asyncio.sleep(quiet)
        if core.core_approvals.list_requests == seen:
            return
    raise AssertionError("the core approvals poll kept going")


async def _rows(h: Harness) -> list[Approval]:
    assert h.runtime is not None
    async with h.runtime.db.session() as session:
        return list((await session.scalars(select(Approval))).all())


async def _events(h: Harness) -> int:
    return await h.count(CoreEvent)


def _keyboard(call: Any) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    return markup["inline_keyboard"][0] if markup else []


async def _prompted_on_telegram(h: Harness, text: str = "#core_approval=wire_money pay Bob") -> Any:
    await h.post_update(updates.message(text))
    prompts = await eventually(
        lambda: [c for c in h.telegram.calls_to("sendMessage") if c.params.get("reply_markup")],
        message="a prompt with buttons",
    )
    return prompts[0]


async def test_telegram_buttons_decide_and_the_core_hears_it_once(owned: Harness) -> None:
    prompt = await _prompted_on_telegram(owned)
    assert "wire_money" in prompt.params["text"]
    [row] = await _rows(owned)
    core_id = next(iter(owned.core.core_approvals.approvals))
    assert row.source == "core_owned" and row.core_approval_id == core_id
    assert row.app_user_id == ALICE
    await owned.post_update(updates.callback(_keyboard(prompt)[0]["callback_data"]))
    await eventually(lambda: owned.core.core_approvals.decisions, message="POSTed to the core")
    await eventually(lambda: owned.core.core_approvals.approvals[core_id]["status"] == "approved")
    edits = await eventually(lambda: owned.telegram.calls_to("editMessageText"))
    assert not edits[0].params.get("reply_markup")
    # The core's own approval.approved event comes back; nothing is posted twice.
    await eventually(lambda: _events_seen(owned, 2), message="both events received")
    assert owned.core.core_approvals.decisions == [(core_id, "approve")]

    async def synced() -> bool:
        [row] = await _rows(owned)  # marked once the gateway has read the core's answer
        return row.status == "approved" and row.core_sync == "done"

    await eventually(synced, message="the decision marked as delivered")
    # A second tap changes nothing.
    await owned.post_update(updates.callback(_keyboard(prompt)[0]["callback_data"]))
    await eventually(lambda: len(owned.telegram.calls_to("answerCallbackQuery")) == 2)
    assert owned.core.core_approvals.decisions == [(core_id, "approve")]
    status, listed = await owned.admin("GET", f"{BASE}/approvals")
    assert status == 200 and listed["approvals"][0]["source"] == "core_owned"


def _events_seen(h: Harness, n: int) -> bool:
    return len([e for e in h.core.core_approvals.events if e.get("_answers")]) >= n


async def test_sms_yes_decides_and_the_core_hears_it(owned: Harness) -> None:
    await owned.post_twilio(
        fake_twilio.inbound_form(from_=PHONE, body="#core_approval=close_account now")
    )
    await eventually(lambda: any("Reply YES" in b for b in owned.twilio.sent_bodies(PHONE)))
    await owned.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="YES"))
    decisions = await eventually(lambda: owned.core.core_approvals.decisions)
    assert [verdict for _, verdict in decisions] == ["approve"]
    [row] = await _rows(owned)
    assert row.status == "approved" and row.channel == "sms"


async def test_a_decision_made_in_the_core_first_updates_the_prompt(owned: Harness) -> None:
    await _prompted_on_telegram(owned)
    core_id = next(iter(owned.core.core_approvals.approvals))
    owned.core.core_approvals.set_status(core_id, "denied")  # the app's own UI
    edits = await eventually(lambda: owned.telegram.calls_to("editMessageText"))
    assert not edits[0].params.get("reply_markup") and "Denied" in edits[0].params["text"]
    [row] = await _rows(owned)
    assert row.status == "denied" and row.decision_source == "core"
    assert owned.core.core_approvals.decisions == []  # nothing to tell the core


async def test_a_late_tap_is_told_the_cores_real_outcome(polled: Harness) -> None:
    prompt = await _prompted_on_telegram(polled)
    core_id = next(iter(polled.core.core_approvals.approvals))
    # The poll stops first, and a poll already under way finishes, before the core decides
    # (no event is sent): otherwise that poll could learn the outcome before the tap does.
    polled.runtime.settings.core_approval_poll_seconds = 3600  # type: ignore[union-attr]
    await _polls_settled(polled.core)
    polled.core.core_approvals.set_status(core_id, "approved")
    await polled.post_update(updates.callback(_keyboard(prompt)[1]["callback_data"]))  # deny
    await eventually(
        lambda: any("already been approved elsewhere" in t for t in polled.telegram.sent_texts()),
        message="the real outcome told",
    )
    assert polled.core.core_approvals.decisions == [(core_id, "deny")]  # answered 409
    [row] = await _rows(polled)
    assert row.status == "approved" and row.core_sync == "conflict"


@pytest.mark.short_ttl
async def test_expiry_in_the_core_is_told(owned: Harness) -> None:
    await _prompted_on_telegram(owned)
    await eventually(
        lambda: any("expired" in t for t in owned.telegram.sent_texts()), message="told"
    )
    edits = await eventually(lambda: owned.telegram.calls_to("editMessageText"))
    assert not edits[0].params.get("reply_markup")
    [row] = await _rows(owned)
    assert row.status == "expired"
    assert owned.core.core_approvals.decisions == []


async def test_the_poll_alone_brings_approvals_in(polled: Harness) -> None:
    await _prompted_on_telegram(polled)
    assert polled.core.core_approvals.events and await _events(polled) == 0
    [row] = await _rows(polled)
    assert row.source == "core_owned"


def _event(approval_id: str = "capr_forged", status: str = "pending") -> dict[str, Any]:
    return {
        "event_id": f"evt_{approval_id}",
        "type": f"approval.{status}",  # `type` is accepted for `event`
        "approval": {
            "id": approval_id,
            "project_id": "proj_mock",
            "app_user_id": ALICE,  # alias of user_id
            "tool": "wire_money",
            "summary": "pay Bob",
            "status": status,
        },
    }


async def _post(h: Harness, body: bytes, signature: str | None) -> tuple[int, Any]:
    assert h.http is not None
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[HEADER] = signature
    async with h.http.post(
        f"{h.base_url}/webhooks/core/default", data=body, headers=headers
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_forged_and_replayed_events_change_nothing(owned: Harness) -> None:
    owned.core.core_approvals.settings.events_url = None  # this test sends the events itself
    core_id = owned.core.core_approvals.create(ALICE, "wire_money", "pay Bob", None)
    body = json.dumps(_event(core_id)).encode()
    assert (await _post(owned, body, None))[0] == 401
    assert (await _post(owned, body, sign("not-the-secret", body)))[0] == 403
    old = sign(EVENTS_SECRET, body, int(time.time()) - 3600)
    assert (await _post(owned, body, old))[0] == 403
    assert await _events(owned) == 0 and await _rows(owned) == []
    assert (await _post(owned, b"{not json", sign(EVENTS_SECRET, b"{not json")))[0] == 400
    assert (await _post(owned, b"[]", sign(EVENTS_SECRET, b"[]")))[0] == 400
    status, _ = await _post(owned, body, sign(EVENTS_SECRET, body))
    assert status == 200
    # Never heard from: prompted where the user was linked last (SMS here).
    await eventually(lambda: owned.twilio.sent_bodies(PHONE), message="prompted")
    status, answer = await _post(owned, body, sign(EVENTS_SECRET, body))  # replayed
    assert status == 200 and answer["status"] == "duplicate"
    assert await _events(owned) == 1 and len(await _rows(owned)) == 1
    assert len(owned.twilio.sent_bodies(PHONE)) == 1
    assert (await _post(owned, body, sign(EVENTS_SECRET, body)))[0] == 200
    missing = await owned.admin("POST", "/webhooks/core/nope", data=body)
    assert missing[0] == 404


async def test_settings_per_project_and_the_list_shows_both_kinds(owned: Harness) -> None:
    await _prompted_on_telegram(owned)
    status, _ = await owned.admin(
        "POST",
        f"{BASE}/approvals",
        json={"app_user_id": ALICE, "tool": "refund", "summary": "Refund #42"},
    )
    assert status == 201
    env = cli_env(owned.db_url, owned.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    listed = json.loads(ok(await gateway("approvals", "list", "--json", env=env)).stdout)
    assert sorted(a["source"] for a in listed) == ["api", "core_owned"]
    status, project = await owned.admin(
        "POST", "/api/v1/admin/projects", json={"name": "other", "genaug_project_id": "p 1"}
    )
    assert status == 422  # the id goes into a URL path
    status, project = await owned.admin(
        "POST",
        "/api/v1/admin/projects",
        json={"name": "other", "genaug_project_id": "proj_2", "genaug_admin_key": "k"},
    )
    assert status == 201, project
    assert project["genaug_admin_key_set"] and not project["genaug_webhook_secret_set"]
    assert "genaug_admin_key" not in project  # write-only
    ok(await gateway("projects", "set", "other", "--genaug-webhook-secret", env=env, input="s\n"))
    shown = json.loads(ok(await gateway("projects", "show", "other", "--json", env=env)).stdout)
    assert shown["genaug_project_id"] == "proj_2" and shown["genaug_webhook_secret_set"]
    body = json.dumps(_event("capr_x")).encode()
    assert (await _post_to(owned, "other", body, sign("s", body)))[0] == 403  # another core project


async def _post_to(h: Harness, project: str, body: bytes, signature: str) -> tuple[int, Any]:
    assert h.http is not None
    async with h.http.post(
        f"{h.base_url}/webhooks/core/{project}", data=body, headers={HEADER: signature}
    ) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_bad_input_on_the_event_route_is_never_a_500(owned: Harness) -> None:
    assert owned.http is not None
    good = json.dumps(_event("capr_bad")).encode()
    bodies = [b"", b"null", b"{}", b'{"event_id": 1}', b"\xff\xfe", b"[" * 5000, good[:-3]]
    bodies.append(json.dumps({**_event("capr_bad"), "approval": {"id": "x" * 500}}).encode())
    bodies.append(json.dumps({**_event("capr_bad"), "event_id": "\ud800"}).encode())
    for body in bodies:
        status, answer = await _post(owned, body, sign(EVENTS_SECRET, body))
        assert status == 400, (body[:40], status, answer)
    for name in ("%00", "x" * 3000, "caf%C3%A9", "%ED%A0%80", "DEFAULT"):
        url = URL(f"{owned.base_url}/webhooks/core/{name}", encoded=True)
        async with owned.http.post(
            url, data=good, headers={HEADER: sign(EVENTS_SECRET, good)}
        ) as r:
            assert r.status in (400, 404, 414), (name[:20], r.status)
    huge = b"x" * (owned.settings.max_body_bytes + 10)
    assert (await _post(owned, huge, sign(EVENTS_SECRET, huge)))[0] == 413
    assert await _events(owned) == 0 and await _rows(owned) == []


async def test_a_decision_is_retried_through_a_core_outage(owned: Harness) -> None:
    await owned.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="#core_approval=refund x"))
    await eventually(lambda: any("Reply YES" in b for b in owned.twilio.sent_bodies(PHONE)))
    owned.core.core_approvals.settings.fail_decisions = 2  # two 503s, then it answers
    await owned.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="no"))
    decisions = await eventually(lambda: owned.core.core_approvals.decisions, timeout=30)
    assert [verdict for _, verdict in decisions] == ["deny"]

    async def synced() -> Approval | None:
        # The core records the decision before the gateway reads its answer and marks the row.
        [row] = await _rows(owned)
        return row if row.core_sync == "done" else None

    row = await eventually(synced, timeout=20)
    assert row.status == "denied" and row.core_sync_attempts == 2
