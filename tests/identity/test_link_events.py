"""What a leaked link code can do, and what the app hears: a new code kills the older ones, a code
lives at most 30 minutes, and every link, unlink and refused code reaches the app's lifecycle
webhook as a signed `identity.*` event."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from approvals.signing import HEADER, verify
from gateway.dev import fake_twilio
from gateway.dev.fake_app_webhook import AppWebhookReceiver
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.dev.mock_core import MockCore
from gateway.storage.db.models import LinkCode, WebhookDelivery
from tests.auxil import updates
from tests.auxil.cli import cli_env, gateway, ok
from tests.auxil.harness import HOOK_SECRET, SECRET_KEY, Harness, eventually

pytestmark = pytest.mark.asyncio

BASE = "/api/v1/admin/projects/default"
PHONE = "+14155550161"
MASKED = "+*******0161"


@pytest_asyncio.fixture
async def hooked(db_url: str, app_hook: AppWebhookReceiver) -> AsyncIterator[Harness]:
    """Every channel, the app's lifecycle webhook, identity required."""
    h = Harness(db_url, FakeTelegram(), MockCore(), twilio=FakeTwilio(), whatsapp=FakeWhatsApp())
    await h.start(
        approval_webhook_url=app_hook.url,
        approval_webhook_secret=HOOK_SECRET,
        unlinked_policy="link_required",
    )
    try:
        yield h
    finally:
        await h.stop()


async def _code(h: Harness, app_user: str, ttl: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"app_user_id": app_user}
    if ttl is not None:
        body["ttl_seconds"] = ttl
    status, minted = await h.admin("POST", f"{BASE}/link-codes", json=body)
    assert status == 201, minted
    return minted


async def _telegram(h: Harness, user_id: int, text: str) -> str:
    before = len(h.telegram.sent_texts(user_id))
    user = {**updates.USER, "id": user_id}
    assert (await h.post_update(updates.message(text, chat_id=user_id, user=user))).status == 200
    await eventually(lambda: len(h.telegram.sent_texts(user_id)) > before, message=text)
    return h.telegram.sent_texts(user_id)[-1]


async def _sms(h: Harness, text: str) -> str:
    assert h.twilio is not None
    before = len(h.twilio.sent_bodies(PHONE))
    await h.post_twilio(fake_twilio.inbound_form(from_=PHONE, body=text))
    await eventually(lambda: len(h.twilio.sent_bodies(PHONE)) > before, message=text)
    return h.twilio.sent_bodies(PHONE)[-1]


async def _identity_events(hook: AppWebhookReceiver, count: int) -> list[dict[str, Any]]:
    await eventually(lambda: len(hook.of_type("identity.")) >= count, message=f"{count} events")
    return [e["identity"] | {"type": e["type"]} for e in hook.of_type("identity.")]


async def test_a_new_code_kills_the_older_ones(hooked: Harness) -> None:
    first = await _code(hooked, "user-k")
    second = await _code(hooked, "user-k")
    other = await _code(hooked, "user-other")  # another user's code is not touched
    assert "expired" in await _telegram(hooked, 3001, f"/link {first['code']}")
    assert "linked" in await _telegram(hooked, 3001, f"/link {second['code']}")
    assert "linked" in await _telegram(hooked, 3002, f"/link {other['code']}")
    status, links = await hooked.admin("GET", f"{BASE}/identity-links")
    assert status == 200
    assert {(x["sender"], x["app_user_id"]) for x in links["links"]} == {
        ("3001", "user-k"),
        ("3002", "user-other"),
    }


async def test_a_code_lives_at_most_30_minutes(hooked: Harness) -> None:
    for ttl in (1801, 86400):
        status, body = await hooked.admin(
            "POST", f"{BASE}/link-codes", json={"app_user_id": "user-t", "ttl_seconds": ttl}
        )
        assert status == 422, body
    assert await hooked.count(LinkCode) == 0
    minted = await _code(hooked, "user-t", ttl=1800)
    left = datetime.fromisoformat(minted["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)
    # The CLI refuses too, before it touches the database.
    env = cli_env(hooked.db_url, hooked.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    refused = await gateway("identity", "code", "user-t", "--ttl-minutes", "31", env=env)
    assert refused.returncode != 0 and "30" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert await hooked.count(LinkCode) == 1
    ok(await gateway("identity", "code", "user-t", "--ttl-minutes", "30", env=env))
    assert await hooked.count(LinkCode) == 2


async def test_links_unlinks_and_refusals_reach_the_app_signed(
    hooked: Harness, app_hook: AppWebhookReceiver
) -> None:
    # Linked with a code by SMS, then the code again (used), a wrong one, and an unlink.
    code = (await _code(hooked, "user-e"))["code"]
    assert "linked" in await _sms(hooked, f"LINK {code}")
    await _telegram(hooked, 4001, f"/link {code}")
    await _telegram(hooked, 4001, "/link AAAA-AAAA")
    assert "no longer linked" in await _sms(hooked, "UNLINK")
    # By the admin API (linked, moved, unlinked) and by the CLI.
    link = {"channel": "telegram", "sender": "4002", "app_user_id": "user-e"}
    assert (await hooked.admin("PUT", f"{BASE}/identity-links", json=link))[0] == 200
    moved = {**link, "app_user_id": "user-f", "force": True}
    assert (await hooked.admin("PUT", f"{BASE}/identity-links", json=moved))[0] == 200
    assert (await hooked.admin("DELETE", f"{BASE}/identity-links/telegram/4002"))[0] == 204
    env = cli_env(hooked.db_url, hooked.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    ok(await gateway("identity", "link", f"sms:{PHONE}", "user-g", env=env))
    ok(await gateway("identity", "unlink", f"sms:{PHONE}", env=env))

    seen = await _identity_events(app_hook, 9)
    brief = [
        (e["type"], e["channel"], e["sender"], e["app_user_id"], e["source"], e.get("reason"))
        for e in seen
    ]
    assert sorted(brief, key=repr) == sorted(
        [
            ("identity.linked", "sms", MASKED, "user-e", "link_code", None),
            ("identity.link_refused", "telegram", "4001", "user-e", "link_code", "used"),
            ("identity.link_refused", "telegram", "4001", None, "link_code", "unknown"),
            ("identity.unlinked", "sms", MASKED, "user-e", "chat_command", None),
            ("identity.linked", "telegram", "4002", "user-e", "admin-api", None),
            ("identity.linked", "telegram", "4002", "user-f", "admin-api", None),
            ("identity.unlinked", "telegram", "4002", "user-f", "admin-api", None),
            ("identity.linked", "sms", MASKED, "user-g", "cli", None),
            ("identity.unlinked", "sms", MASKED, "user-g", "cli", None),
        ],
        key=repr,
    )
    # One sender's events arrive in the order they happened.
    assert [(b[0], b[3]) for b in brief if b[2] == "4002"] == [
        ("identity.linked", "user-e"),
        ("identity.linked", "user-f"),
        ("identity.unlinked", "user-f"),
    ]
    assert [(b[0], b[3]) for b in brief if b[2] == MASKED] == [
        ("identity.linked", "user-e"),
        ("identity.unlinked", "user-e"),
        ("identity.linked", "user-g"),
        ("identity.unlinked", "user-g"),
    ]
    assert all(e["project"] == "default" for e in seen)
    by_type = {(e["type"], e["source"]): e for e in seen}
    assert by_type[("identity.linked", "link_code")]["actor"] == f"chat:sms:{MASKED}"
    assert by_type[("identity.linked", "cli")]["actor"] == "cli"
    assert by_type[("identity.unlinked", "admin-api")]["actor"].startswith("admin-api")
    moved_event = [
        e for e in seen if e["app_user_id"] == "user-f" and e["type"] == "identity.linked"
    ]
    assert moved_event[0]["previous_app_user_id"] == "user-e"
    # Every delivery is signed with the project's secret, and no phone number is sent or stored.
    assert app_hook.deliveries and all(d.signature_ok for d in app_hook.deliveries)
    for delivery in app_hook.deliveries:
        assert verify(HOOK_SECRET, delivery.body, delivery.headers[HEADER])
        assert PHONE.lstrip("+") not in delivery.body.decode()
        event = delivery.event
        assert event["event_id"].startswith("evt_") and event["created_at"].endswith("Z")
    # The receiver records an event before its 200 reaches the gateway, which then marks the
    # row: the last mark may land just after the receiver's count was reached.
    delivered = WebhookDelivery.status == "delivered"
    await eventually(lambda: hooked.count_is(9, WebhookDelivery, delivered), message="marked")
    assert hooked.runtime is not None
    async with hooked.runtime.db.session() as session:
        rows = (await session.scalars(select(WebhookDelivery))).all()
    assert len(rows) == 9 and {r.status for r in rows} == {"delivered"}
    for row in rows:
        assert row.approval_id.startswith("link:") and row.chat_key == row.approval_id
        assert PHONE.lstrip("+")[-7:] not in json.dumps([row.body, row.chat_key])


async def test_a_throttled_sender_is_reported_too(
    hooked: Harness, app_hook: AppWebhookReceiver
) -> None:
    for _ in range(5):
        assert "isn't valid" in await _telegram(hooked, 5001, "/link AAAA-AAAA")
    good = (await _code(hooked, "user-h"))["code"]
    assert "Too many wrong codes" in await _telegram(hooked, 5001, f"/link {good}")
    seen = await _identity_events(app_hook, 6)
    assert [e["reason"] for e in seen] == ["unknown"] * 5 + ["throttled"]
    assert {e["type"] for e in seen} == {"identity.link_refused"}
    assert seen[-1]["app_user_id"] is None  # the code was never looked at


async def test_no_webhook_no_events(gw: Harness) -> None:
    """A project without a lifecycle webhook queues nothing (the links work the same)."""
    code = (await _code(gw, "user-n"))["code"]
    assert "linked" in await _telegram(gw, 6001, f"/link {code}")
    assert await gw.count(WebhookDelivery) == 0
