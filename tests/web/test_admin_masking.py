"""End users' phone numbers in admin API answers: masked, unless the global key asks for
`?reveal=true` (a project key asking gets them masked)."""

from __future__ import annotations

from sqlalchemy import update

from gateway.dev import fake_twilio
from gateway.storage.api_keys import ApiKeyStore
from gateway.storage.db.models import Approval
from tests.auxil.harness import TWILIO_NUMBER, Harness, eventually

BASE = "/api/v1/admin/projects/default"
PHONE = "+14155550123"
MASKED = "+*******0123"
WRITER = "+14155550999"


async def _project_key(h: Harness) -> str:
    assert h.runtime is not None
    return (await ApiKeyStore(h.runtime.db).create("default", "app", actor="test"))[1]


async def test_phone_numbers_are_masked_unless_the_global_key_reveals(gw: Harness) -> None:
    key = await _project_key(gw)
    link = {"channel": "sms", "sender": PHONE, "app_user_id": "alice"}
    status, put = await gw.admin("PUT", f"{BASE}/identity-links", json=link)
    assert status == 200 and put["sender"] == MASKED

    links = f"{BASE}/identity-links"
    for path, kwargs, expected in (
        (links, {}, MASKED),
        (links + "?reveal=false", {}, MASKED),
        (links + "?reveal=true", {}, PHONE),
        (links + "?reveal=true", {"key": key}, MASKED),
        (links + "?app_user_id=alice", {"key": key}, MASKED),
    ):
        status, body = await gw.admin("GET", path, **kwargs)
        assert status == 200, body
        assert [link["sender"] for link in body["links"]] == [expected], (path, kwargs)

    status, body = await gw.admin("GET", links + "?reveal=yes")
    assert status == 422 and body["error"]["code"] == "invalid_query"

    message = {"app_user_id": "alice", "text": "Your order shipped", "channel": "sms"}
    status, sent = await gw.admin("POST", f"{BASE}/messages", json=message, key=key)
    assert status == 202 and sent["sender"] == MASKED
    status, sent = await gw.admin("POST", f"{BASE}/messages?reveal=true", json=message)
    assert status == 202 and sent["sender"] == PHONE

    ask = {"app_user_id": "alice", "tool": "refund", "summary": "Refund #42", "channel": "sms"}
    status, approval = await gw.admin("POST", f"{BASE}/approvals", json=ask)
    assert status == 201
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session, session.begin():
        # As a decision typed in the chat records it (approvals.decisions).
        await session.execute(
            update(Approval)
            .where(Approval.id == approval["id"])
            .values(status="approved", decided_by=f"sms:{PHONE}", app_user_id=f"sms:{PHONE}")
        )
    one = f"{BASE}/approvals/{approval['id']}"
    for path, kwargs, expected in (
        (one, {"key": key}, f"sms:{MASKED}"),
        (one + "?reveal=true", {"key": key}, f"sms:{MASKED}"),
        (one + "?reveal=true", {}, f"sms:{PHONE}"),
    ):
        status, shown = await gw.admin("GET", path, **kwargs)
        assert (shown["decided_by"], shown["app_user_id"]) == (expected, expected), path
    status, listed = await gw.admin("GET", f"{BASE}/approvals", key=key)
    assert [a["decided_by"] for a in listed["approvals"]] == [f"sms:{MASKED}"]
    assert PHONE not in str(listed)


async def test_turn_stories_stay_masked(gw: Harness) -> None:
    form = fake_twilio.inbound_form(from_=WRITER, to=TWILIO_NUMBER, body="hello there")
    status, _, _ = await gw.post_twilio(form)
    assert status == 200
    await eventually(lambda: gw.twilio is not None and gw.twilio.messages)
    for query in ("", "?reveal=true"):
        status, story = await gw.admin("GET", f"{BASE}/turns/{form['MessageSid']}{query}")
        assert status == 200, story
        assert story["inbound"]["sender"] == "+*******0999"
        assert WRITER not in str(story)
