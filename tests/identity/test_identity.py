"""Identity linking end to end: codes redeemed in the chat, links from the admin API, the
project's unlinked-sender policy, proactive messages, and the audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from gateway.dev import fake_twilio, fake_whatsapp
from gateway.storage.db.models import AuditEntry, IdentityLink, LinkCode, OutboundMessage, utcnow
from identity.store import Contact
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

BASE = "/api/v1/admin/projects/default"
PHONE_A, PHONE_B = "+14155550101", "+14155550102"


async def _policy(gw: Harness, policy: str) -> None:
    status, _ = await gw.admin("PATCH", BASE, json={"unlinked_policy": policy})
    assert status == 200


async def _code(gw: Harness, app_user: str, ttl: int = 600) -> str:
    status, body = await gw.admin(
        "POST", f"{BASE}/link-codes", json={"app_user_id": app_user, "ttl_seconds": ttl}
    )
    assert status == 201, body
    return str(body["code"])


async def _telegram(gw: Harness, user_id: int, text: str) -> str:
    """Send a private Telegram message; the gateway's reply text."""
    before = len(gw.telegram.sent_texts(user_id))
    user = {**updates.USER, "id": user_id}
    assert (await gw.post_update(updates.message(text, chat_id=user_id, user=user))).status == 200
    await eventually(lambda: len(gw.telegram.sent_texts(user_id)) > before, message=text)
    return gw.telegram.sent_texts(user_id)[-1]


async def _sms(gw: Harness, phone: str, text: str) -> str:
    assert gw.twilio is not None
    before = len(gw.twilio.sent_bodies(phone))
    await gw.post_twilio(fake_twilio.inbound_form(from_=phone, body=text))
    await eventually(lambda: len(gw.twilio.sent_bodies(phone)) > before, message=text)
    return gw.twilio.sent_bodies(phone)[-1]


async def _holds(count: Awaitable[int], expected: int) -> bool:
    return await count >= expected


async def test_unlinked_sender_is_told_how_to_link_and_nothing_is_forwarded(gw: Harness) -> None:
    await _policy(gw, "link_required")
    reply = await _telegram(gw, 501, "hello?")
    assert "link your account" in reply and "/link" in reply
    reply = await _sms(gw, PHONE_A, "hello?")
    assert "LINK ABCD-EFGH" in reply
    assert gw.core.requests == []


async def test_codes_link_once_from_any_channel_and_turns_carry_the_app_user(gw: Harness) -> None:
    await _policy(gw, "link_required")
    code = await _code(gw, "user-anna")
    assert "Your account is linked" in await _telegram(gw, 601, f"/start {code}")
    # The same code again, from another channel: already used.
    assert "already used" in await _sms(gw, PHONE_A, f"link {code.lower().replace('-', ' ')}")

    await _telegram(gw, 601, "what's my balance?")
    call = gw.core.requests[-1]["body"]
    assert call["user"] == "user-anna"
    assert call["metadata"]["identity_linked"] == "true"

    # A second code for the same person links their phone too (typed loosely).
    code = await _code(gw, "user-anna")
    assert "linked" in await _sms(gw, PHONE_A, f"LINK {code.replace('-', '').lower()}")
    await _sms(gw, PHONE_A, "and by text?")
    assert gw.core.requests[-1]["body"]["user"] == "user-anna"

    # Not stored in plain text: only a keyed hash.
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        stored = (await session.scalars(select(LinkCode))).all()
    assert len(stored) == 2
    for row in stored:
        assert code.replace("-", "") not in row.code_hash and code not in row.code_hash
        assert len(row.code_hash) == 64 and row.used_at is not None


async def test_wrong_expired_and_throttled_codes(gw: Harness) -> None:
    await _policy(gw, "link_required")
    assert "isn't valid" in await _telegram(gw, 701, "/link NOPE-NOPE")
    code = await _code(gw, "user-bo", ttl=60)
    assert gw.runtime is not None
    async with gw.runtime.db.engine.begin() as conn:
        await conn.execute(update(LinkCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert "expired" in await _telegram(gw, 701, f"/link {code}")
    for _ in range(3):
        assert "isn't valid" in await _telegram(gw, 701, "/link AAAA-AAAA")
    # Five failures in 15 minutes: the sixth attempt is refused even with a good code.
    good = await _code(gw, "user-bo")
    reply = await _telegram(gw, 701, f"/link {good}")
    assert "Too many wrong codes" in reply
    async with gw.runtime.db.session() as session:
        assert (await session.scalars(select(IdentityLink))).all() == []
    # Another sender is not affected by 701's mistakes.
    assert "linked" in await _telegram(gw, 702, f"/link {good}")


async def test_two_senders_racing_for_one_code_make_one_link(gw: Harness) -> None:
    await _policy(gw, "link_required")
    code = await _code(gw, "user-race")
    await asyncio.gather(
        *(
            gw.post_update(
                updates.message(f"/link {code}", chat_id=uid, user={**updates.USER, "id": uid})
            )
            for uid in (801, 802)
        )
    )
    await eventually(
        lambda: len(gw.telegram.sent_texts(801)) + len(gw.telegram.sent_texts(802)) == 2
    )
    replies = gw.telegram.sent_texts(801) + gw.telegram.sent_texts(802)
    assert sum("Your account is linked" in r for r in replies) == 1
    assert sum("already used" in r for r in replies) == 1
    status, body = await gw.admin("GET", f"{BASE}/identity-links?app_user_id=user-race")
    assert status == 200 and len(body["links"]) == 1


async def test_two_users_on_two_channels_each_never_see_each_other(gw: Harness) -> None:
    await _policy(gw, "link_required")
    pairs = {"user-a": (1001, PHONE_A), "user-b": (1002, PHONE_B)}
    for app_user, (tg, phone) in pairs.items():
        for channel, sender in (("telegram", str(tg)), ("sms", phone)):
            status, _ = await gw.admin(
                "PUT",
                f"{BASE}/identity-links",
                json={"channel": channel, "sender": sender, "app_user_id": app_user},
            )
            assert status == 200
    sends = []
    for round_ in range(5):
        for _app_user, (tg, phone) in pairs.items():
            user = {**updates.USER, "id": tg}
            msg = updates.message(f"tg {tg} {round_}", chat_id=tg, user=user)
            sends.append(gw.post_update(msg))
            form = fake_twilio.inbound_form(from_=phone, body=f"sms {phone} {round_}")
            sends.append(gw.post_twilio(form))
    await asyncio.gather(*sends)
    await eventually(lambda: len(gw.core.requests) >= 20, timeout=20)
    assert len(gw.core.requests) == 20
    for request in gw.core.requests:
        body = request["body"]
        _, who, _ = body["input"].split(" ")
        expected = "user-a" if who in ("1001", PHONE_A) else "user-b"
        assert body["user"] == expected, body
        assert body["metadata"]["identity_linked"] == "true"


async def test_admin_links_conflict_force_and_unlink(gw: Harness) -> None:
    link = {"channel": "telegram", "sender": "555", "app_user_id": "user-1"}
    status, body = await gw.admin("PUT", f"{BASE}/identity-links", json=link)
    assert status == 200 and body["app_user_id"] == "user-1"
    status, body = await gw.admin(
        "PUT", f"{BASE}/identity-links", json={**link, "app_user_id": "user-2"}
    )
    assert status == 409 and "user-1" in body["error"]["message"]
    status, body = await gw.admin(
        "PUT", f"{BASE}/identity-links", json={**link, "app_user_id": "user-2", "force": True}
    )
    assert status == 200 and body["app_user_id"] == "user-2"
    status, body = await gw.admin("GET", f"{BASE}/identity-links?channel=telegram")
    assert [entry["sender"] for entry in body["links"]] == ["555"]
    status, _ = await gw.admin("DELETE", f"{BASE}/identity-links/sms/%2B14155550101")
    assert status == 404
    status, _ = await gw.admin("DELETE", f"{BASE}/identity-links/telegram/555")
    assert status == 204
    status, body = await gw.admin("GET", f"{BASE}/identity-links")
    assert body["links"] == []
    status, _ = await gw.admin("GET", f"{BASE}/identity-links", key="wrong")
    assert status == 401
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        actions = [(a.actor, a.action) for a in (await session.scalars(select(AuditEntry))).all()]
    assert ("admin-api:global", "link.create") in actions
    assert ("admin-api:global", "link.remove") in actions


async def test_unlink_from_the_chat(gw: Harness) -> None:
    await _policy(gw, "link_required")
    code = await _code(gw, "user-u")
    await _telegram(gw, 901, f"/start {code}")
    assert "no longer linked" in await _telegram(gw, 901, "/unlink")
    assert "link your account" in await _telegram(gw, 901, "hi")
    assert gw.core.requests == []


async def test_allowlist_policy(gw: Harness) -> None:
    await _policy(gw, "allowlist")
    assert gw.runtime is not None
    await gw.runtime.identity.allow("default", "telegram", "1201", actor="test")
    await _telegram(gw, 1201, "hi, I'm on the list")
    assert gw.core.requests[-1]["body"]["user"].startswith("anon_")
    assert gw.core.requests[-1]["body"]["metadata"]["identity_linked"] == "false"
    assert "isn't available" in await _telegram(gw, 1202, "and me?")
    assert len(gw.core.requests) == 1


async def test_proactive_messages_go_to_the_most_recent_channel(gw: Harness) -> None:
    assert gw.twilio is not None and gw.whatsapp is not None
    await _policy(gw, "link_required")
    status, body = await gw.admin(
        "POST", f"{BASE}/messages", json={"app_user_id": "nobody", "text": "hi"}
    )
    assert status == 409 and body["error"]["code"] == "no_linked_channel"

    await _telegram(gw, 1301, f"/link {await _code(gw, 'user-p')}")
    await _sms(gw, PHONE_A, f"LINK {await _code(gw, 'user-p')}")  # the most recent one
    status, body = await gw.admin(
        "POST", f"{BASE}/messages", json={"app_user_id": "user-p", "text": "Your order shipped"}
    )
    assert status == 202 and body["channel"] == "sms"
    await eventually(lambda: "Your order shipped" in gw.twilio.sent_bodies(PHONE_A))

    status, body = await gw.admin(
        "POST",
        f"{BASE}/messages",
        json={"app_user_id": "user-p", "text": "Also here", "channel": "telegram"},
    )
    assert status == 202 and body["sender"] == "1301"
    await eventually(lambda: "Also here" in gw.telegram.sent_texts(1301))

    # Opted out of SMS: refused, nothing queued.
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE_A, body="STOP"))
    assert gw.runtime is not None

    async def opted_out() -> bool:
        status, body = await gw.admin(
            "POST",
            f"{BASE}/messages",
            json={"app_user_id": "user-p", "text": "x", "channel": "sms"},
        )
        return status == 409 and body["error"]["code"] == "opted_out"

    await eventually(opted_out)

    # WhatsApp: linked by an operator but never heard from -> outside the 24-hour window.
    status, _ = await gw.admin(
        "PUT",
        f"{BASE}/identity-links",
        json={"channel": "whatsapp", "sender": "5511900000001", "app_user_id": "user-w"},
    )
    status, body = await gw.admin(
        "POST", f"{BASE}/messages", json={"app_user_id": "user-w", "text": "hi"}
    )
    assert status == 409 and body["error"]["code"] == "outside_window"
    # Once the user writes, the window is open.
    message = fake_whatsapp.text_message("5511900000001", "oi")
    await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message]))
    await gw.whatsapp.wait_for_messages(1)

    async def sent_whatsapp() -> bool:
        status, _ = await gw.admin(
            "POST", f"{BASE}/messages", json={"app_user_id": "user-w", "text": "window open"}
        )
        return status == 202

    await eventually(sent_whatsapp)
    await eventually(lambda: "window open" in gw.whatsapp.sent_texts("5511900000001"))
    async with gw.runtime.db.session() as session:
        queued = (
            await session.scalars(
                select(OutboundMessage).where(OutboundMessage.text == "Your order shipped")
            )
        ).all()
    assert len(queued) == 1 and queued[0].chat == PHONE_A


async def test_link_code_instructions_name_each_channel(gw: Harness) -> None:
    status, body = await gw.admin("POST", f"{BASE}/link-codes", json={"app_user_id": "user-i"})
    assert status == 201
    code = body["code"]
    assert body["instructions"]["telegram"].startswith("https://t.me/")
    assert body["instructions"]["telegram"].endswith(f"?start={code}")
    assert body["instructions"]["sms"] == f"Text LINK {code} to +15005550006"
    assert f"LINK {code}" in body["instructions"]["whatsapp"]


async def test_a_message_to_a_made_up_telegram_id_fails_once_and_crashes_nothing(
    gw: Harness,
) -> None:
    """An operator may link any string as a Telegram sender; a message to one that is not a chat id
    is a permanent failure recorded on the row (`failed`), not a sender crash retried forever."""
    status, _ = await gw.admin(
        "PUT",
        f"{BASE}/identity-links",
        json={"channel": "telegram", "sender": "8O", "app_user_id": "user-bad"},
    )
    assert status == 200
    status, body = await gw.admin(
        "POST", f"{BASE}/messages", json={"app_user_id": "user-bad", "text": "hi"}
    )
    assert status == 202, body

    async def dead() -> bool:
        async with gw.runtime.db.session() as session:
            row = await session.scalar(select(OutboundMessage).where(OutboundMessage.chat == "8O"))
        return row is not None and row.status == "failed"

    await eventually(dead, message="the row failed for good")
    async with gw.runtime.db.session() as session:
        row = await session.scalar(select(OutboundMessage).where(OutboundMessage.chat == "8O"))
    assert row is not None and "not a Telegram chat id" in (row.last_error or "")


async def test_only_linked_senders_are_recorded_as_last_heard_from(gw: Harness) -> None:
    """A turn records where a linked sender was last heard from (proactive messages go there);
    a turn that found no link runs no such statement at all (it would match no row)."""
    await _policy(gw, "channel_user")
    link = {"channel": "telegram", "sender": "701", "app_user_id": "user-heard"}
    assert (await gw.admin("PUT", f"{BASE}/identity-links", json=link))[0] == 200
    assert gw.runtime is not None
    store = gw.runtime.identity
    recorded: list[str] = []
    original = store.record_contacts

    async def spy(st: Any, contacts: list[Contact]) -> None:
        recorded.extend(contact.sender[2] for contact in contacts)
        await original(st, contacts)

    store.record_contacts = spy  # type: ignore[method-assign]
    await _telegram(gw, 701, "linked here")
    await _telegram(gw, 702, "not linked")
    assert gw.core.requests[-1]["body"]["metadata"]["identity_linked"] == "false"
    assert recorded == ["701"]
    status, body = await gw.admin("GET", f"{BASE}/identity-links?channel=telegram")
    assert status == 200
    assert [entry["sender"] for entry in body["links"]] == ["701"]
    assert body["links"][0]["last_inbound_at"] is not None
