"""A delivery status updates only a message of the account it arrived for: a provider's message
ids are unique per provider account, so another tenant may have sent one with the same id."""

from __future__ import annotations

from sqlalchemy import select

from gateway.dev import fake_twilio
from gateway.storage.db.models import InboxEvent, OutboundMessage
from tests.auxil.harness import Harness, eventually

API = "/api/v1/admin"
PHONE = "+14155550100"
ACME_SID = "AC" + "a" * 32
ACME_AUTH = "acme-twilio-auth-token-0123456789"


async def _sent(gw: Harness) -> OutboundMessage:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        row = await session.scalar(select(OutboundMessage).where(OutboundMessage.status == "sent"))
    return row  # type: ignore[return-value]


async def _done_statuses(gw: Harness) -> int:
    return await gw.count(InboxEvent, InboxEvent.kind == "status", InboxEvent.status == "done")


async def test_a_status_from_another_account_does_not_update(gw: Harness) -> None:
    assert (await gw.admin("POST", f"{API}/projects", json={"name": "acme"}))[0] == 201
    status, body = await gw.admin(
        "POST",
        f"{API}/projects/acme/accounts",
        json={
            "channel": "sms",
            "account": "acme-sms",
            "account_sid": ACME_SID,
            "auth_token": ACME_AUTH,
            "from_number": "+15005550009",
            "api_base_url": gw.twilio_url,
        },
    )
    assert status == 201, body
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="hi"))
    row = await eventually(lambda: _sent(gw), message="the default account's reply sent")
    sid = row.provider_message_id
    assert sid and row.account == "default"

    # acme's account reports "failed" for a message id that is default's, correctly signed.
    forged = fake_twilio.status_form(
        message_sid=sid, status="failed", to=PHONE, account_sid=ACME_SID, error_code="30007"
    )
    code, _, _ = await gw.post_twilio(forged, status=True, auth_token=ACME_AUTH, account="acme-sms")
    assert code == 200  # stored like any callback: the account and signature are real
    await eventually(lambda: _done_statuses(gw), timeout=20, message="the foreign status handled")
    assert (await _sent(gw)).delivery_status is None

    # The account that sent it reports: recorded.
    real = fake_twilio.status_form(message_sid=sid, status="delivered", to=PHONE)
    assert (await gw.post_twilio(real, status=True))[0] == 200

    async def delivered() -> bool:
        return (await _sent(gw)).delivery_status == "delivered"

    await eventually(delivered, message="the real status recorded")
