"""Twilio adapter: signatures, parsing, sending, against the fake Twilio API over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels.twilio import EMPTY_TWIML, TwilioAdapter
from gateway.dev.fake_twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    FakeTwilio,
    encode_form,
    inbound_form,
    sign,
    status_form,
)
from gateway.messages import (
    AccountInfo,
    InboundRequest,
    OutboundMessage,
    SendError,
    WebhookRejected,
)
from tests.auxil.harness import free_port

PUBLIC = "https://gw.example.com"
HOOK = f"{PUBLIC}/webhooks/twilio/default"
STATUS_HOOK = f"{HOOK}/status"
OUR_NUMBER = "+15005550006"
USER = "+14155550100"


def account(**config: Any) -> AccountInfo:
    base = {"account_sid": DEFAULT_ACCOUNT_SID, "from_number": OUR_NUMBER, "public_url": PUBLIC}
    return AccountInfo(
        project="default",
        channel="sms",
        account="default",
        secrets={"auth_token": DEFAULT_AUTH_TOKEN},
        config={**base, **config},
    )


def request(
    body: bytes, url: str = HOOK, signature: str | None = None, **headers: str
) -> InboundRequest:
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return InboundRequest(method="POST", url=url, headers=headers, query={}, body=body)


def signed(
    form: dict[str, str], url: str = HOOK, token: str = DEFAULT_AUTH_TOKEN
) -> InboundRequest:
    return request(encode_form(form), url, sign(url, form, token))


@pytest.fixture
def adapter() -> TwilioAdapter:
    return TwilioAdapter(account())


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    server = FakeTwilio(phone_numbers=[OUR_NUMBER])
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def sender(fake: FakeTwilio) -> AsyncIterator[TwilioAdapter]:
    twilio = TwilioAdapter(account(api_base_url=fake.base_url))
    yield twilio
    await twilio.close()


def message(chat: str = USER, text: str = "hello there") -> OutboundMessage:
    return OutboundMessage(channel="sms", account="default", chat=chat, text=text)


# --- signatures --------------------------------------------------------------------------------


def test_documented_vector_verifies() -> None:
    """providers.md vector: token 12345, From + Body posted to https://example.com/twilio/inbound."""
    adapter = TwilioAdapter(
        AccountInfo("p", "sms", "a", {"auth_token": "12345"}, {"account_sid": "AC1"})
    )
    body = encode_form({"From": "+14155550100", "Body": "hi"})
    url = "https://example.com/twilio/inbound"
    adapter.verify(request(body, url, "k2LDOmwFU4H+PxTEZFi84QxcZIE="))
    with pytest.raises(WebhookRejected) as info:
        adapter.verify(request(body, url, "k2LDOmwFU4H+PxTEZFi84QxcZIF="))
    assert info.value.status == 403


def test_signature_by_the_twilio_package_verifies(adapter: TwilioAdapter) -> None:
    form = inbound_form(body="a b&c=d ünï 😀", media=[("https://api.twilio.com/m/1", "image/png")])
    adapter.verify(signed(form))
    adapter.verify(signed(status_form(message_sid="SM1"), STATUS_HOOK + "?x=1"))


def test_blank_and_repeated_fields_are_signed_like_twilio(adapter: TwilioAdapter) -> None:
    pairs = [("Body", ""), ("Tag", "b"), ("Tag", "a"), ("From", USER), ("MessageSid", "SM1")]
    signature = RequestValidator(DEFAULT_AUTH_TOKEN).compute_signature(HOOK, MultiDict(pairs))
    adapter.verify(request(urlencode(pairs).encode(), HOOK, signature))
    # Dropping the blank field changes the signed string.
    without_blank = urlencode(pairs[1:]).encode()
    with pytest.raises(WebhookRejected):
        adapter.verify(request(without_blank, HOOK, signature))


def test_missing_header_is_401(adapter: TwilioAdapter) -> None:
    with pytest.raises(WebhookRejected) as info:
        adapter.verify(request(encode_form(inbound_form())))
    assert info.value.status == 401


def test_header_name_is_case_insensitive(adapter: TwilioAdapter) -> None:
    form = inbound_form()
    adapter.verify(request(encode_form(form), **{"x-twilio-signature": sign(HOOK, form)}))


@pytest.mark.parametrize(
    "tamper",
    ["body_byte", "wrong_token", "other_query", "other_path", "garbage_signature"],
)
def test_tampered_requests_are_403(adapter: TwilioAdapter, tamper: str) -> None:
    form = inbound_form(body="pay 10")
    body, url, token = encode_form(form), HOOK + "?a=1", DEFAULT_AUTH_TOKEN
    signature = sign(url, form, token)
    if tamper == "body_byte":
        body = body.replace(b"pay+10", b"pay+90")
    elif tamper == "wrong_token":
        signature = sign(url, form, "another-token")
    elif tamper == "other_query":
        url = HOOK + "?a=2"
    elif tamper == "other_path":
        url = STATUS_HOOK + "?a=1"
    else:
        signature = "\udcff\x00" * 14
    with pytest.raises(WebhookRejected) as info:
        adapter.verify(request(body, url, signature))
    assert info.value.status == 403


@pytest.mark.parametrize(
    "url", ["https://[gw.example.com/hook", "https://gw.example.com:port/hook", "https://\udcff/"]
)
def test_unparsable_url_is_403(adapter: TwilioAdapter, url: str) -> None:
    form = inbound_form()
    with pytest.raises(WebhookRejected) as info:
        adapter.verify(request(encode_form(form), url, sign(HOOK, form)))
    assert info.value.status == 403


def test_undecodable_body_is_rejected_not_crashed(adapter: TwilioAdapter) -> None:
    for body in (b"Body=\xff\xfe", b"Body=%FF%FE", b"a=1&" * 2000):
        with pytest.raises(WebhookRejected) as info:
            adapter.verify(request(body, signature="x"))
        assert info.value.status == 400


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(max_size=300) | st.text(max_size=200).map(lambda t: t.encode()),
    url=st.text(max_size=60).map(lambda t: HOOK + t) | st.text(max_size=40),
    signature=st.none() | st.text(max_size=40),
)
def test_garbage_only_ever_raises_webhook_rejected(body: bytes, url: str, signature: str) -> None:
    adapter = TwilioAdapter(account())
    for step in (adapter.verify, adapter.parse):
        try:
            step(request(body, url, signature))
        except WebhookRejected as exc:
            assert exc.status in (400, 401, 403)


# --- parsing ---------------------------------------------------------------------------------


def test_sms_message(adapter: TwilioAdapter) -> None:
    form = inbound_form(from_=USER, to=OUR_NUMBER, body="hi there", message_sid="SM" + "a" * 32)
    [event] = adapter.parse(signed(form))
    assert (event.channel, event.account, event.kind) == ("sms", "default", "message")
    assert event.event_id == "SM" + "a" * 32
    assert event.sender == event.chat == USER
    assert event.text == "hi there"
    assert event.hints == {"to": OUR_NUMBER}
    assert event.attachments == []
    assert event.raw["AccountSid"] == DEFAULT_ACCOUNT_SID


def test_whatsapp_over_twilio_uses_wa_id_sender_and_prefixed_chat(adapter: TwilioAdapter) -> None:
    form = inbound_form(
        from_="whatsapp:+14155550100", to="whatsapp:+14155238886", profile_name="Ana"
    )
    [event] = adapter.parse(signed(form))
    assert event.channel == "whatsapp"
    assert event.sender == "14155550100"
    assert event.chat == "whatsapp:+14155550100"
    assert event.display_name == "Ana"
    assert event.hints["via"] == "sms"
    assert event.hints["to"] == "whatsapp:+14155238886"


def test_media_attachments(adapter: TwilioAdapter) -> None:
    media = [
        ("https://api.twilio.com/m/1", "image/jpeg"),
        ("https://api.twilio.com/m/2", "audio/ogg"),
        ("https://api.twilio.com/m/3", "application/pdf"),
    ]
    [event] = adapter.parse(signed(inbound_form(body="", media=media)))
    assert event.text is None
    assert [(a.kind, a.url, a.mime_type) for a in event.attachments] == [
        ("image", "https://api.twilio.com/m/1", "image/jpeg"),
        ("voice", "https://api.twilio.com/m/2", "audio/ogg"),  # MMS audio: a recording
        ("document", "https://api.twilio.com/m/3", "application/pdf"),
    ]


def test_quick_reply_button_is_an_action(adapter: TwilioAdapter) -> None:
    form = inbound_form(
        from_="whatsapp:+14155550100", body="Approve", button_payload="appr:7f3a:yes"
    )
    [event] = adapter.parse(signed(form))
    assert event.kind == "action"
    assert event.action == "appr:7f3a:yes"
    assert event.text == "Approve"


def test_list_picker_reply_is_an_action(adapter: TwilioAdapter) -> None:
    """A twilio/list-picker row: ListId is the payload, ListTitle what the user said."""
    form = inbound_form(from_="whatsapp:+14155550100", body="Priority Mail Express")
    form |= {"ListId": "priority_express", "ListTitle": "Priority Mail Express"}
    [event] = adapter.parse(signed(form))
    assert event.kind == "action"
    assert event.action == "priority_express"
    assert event.text == "Priority Mail Express"


def test_bsuid_sender_is_a_whatsapp_user(adapter: TwilioAdapter) -> None:
    """A user with a WhatsApp username and no visible number: From is the business-scoped
    user id, the sender and the address answered."""
    form = inbound_form(from_="whatsapp:IN.2081978709342942", body="hi")
    form |= {"WaId": "", "ExternalUserId": "IN.2081978709342942"}
    [event] = adapter.parse(signed(form))
    assert (event.channel, event.sender) == ("whatsapp", "IN.2081978709342942")
    assert event.chat == "whatsapp:IN.2081978709342942"
    assert event.text == "hi"


def test_opt_out_type_is_a_hint(adapter: TwilioAdapter) -> None:
    [event] = adapter.parse(signed(inbound_form(body="STOP", opt_out_type="STOP")))
    assert event.hints["opt_out_type"] == "STOP"
    assert event.text == "STOP"


@pytest.mark.parametrize(("to", "channel"), [(USER, "sms"), ("whatsapp:+14155550100", "whatsapp")])
def test_status_callback(adapter: TwilioAdapter, to: str, channel: str) -> None:
    form = status_form(message_sid="SM123", status="undelivered", to=to, error_code="30006")
    [event] = adapter.parse(signed(form, STATUS_HOOK))
    assert event.kind == "status"
    assert event.channel == channel
    assert event.event_id == "SM123:undelivered"
    assert event.chat == to
    assert event.hints["provider_message_id"] == "SM123"
    assert event.hints["status"] == "undelivered"
    assert event.hints["error_code"] == "30006"
    [delivered] = adapter.parse(signed(status_form(message_sid="SM123"), STATUS_HOOK))
    assert delivered.event_id == "SM123:delivered"
    assert delivered.hints["error_code"] is None


def test_an_account_named_status_still_gets_messages(adapter: TwilioAdapter) -> None:
    url = f"{PUBLIC}/webhooks/twilio/status"
    [event] = adapter.parse(signed(inbound_form(), url))
    assert event.kind == "message"
    [event] = adapter.parse(signed(status_form(message_sid="SM9"), url + "/status"))
    assert event.kind == "status"


@pytest.mark.parametrize(
    ("url", "form"),
    [
        (HOOK, {"From": USER, "Body": "no sid"}),
        (HOOK, {"MessageSid": "SM1", "Body": "no from"}),
        (HOOK, {"MessageSid": "SM" + "1" * 200, "From": USER}),
        (HOOK, {"MessageSid": "SM1", "From": "+1" + "5" * 200}),
        (HOOK, {"MessageSid": "SM1", "From": "whatsapp:not-a-number"}),
        (HOOK, {"MessageSid": "SM1", "From": "whatsapp:IN.208 197"}),
        (STATUS_HOOK, {"MessageSid": "SM1", "To": USER}),
        (STATUS_HOOK, {"MessageSid": "SM1", "MessageStatus": "x" * 200}),
    ],
)
def test_malformed_forms_are_400(adapter: TwilioAdapter, url: str, form: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as info:
        adapter.parse(signed(form, url))
    assert info.value.status == 400


def test_webhook_reply_is_empty_twiml(adapter: TwilioAdapter) -> None:
    reply = adapter.webhook_reply()
    assert (reply.status, reply.body, reply.content_type) == (200, EMPTY_TWIML, "text/xml")


def test_no_handshake_for_twilio(adapter: TwilioAdapter) -> None:
    with pytest.raises(WebhookRejected) as info:
        adapter.handshake(InboundRequest("GET", HOOK, {}, {}, b""))
    assert info.value.status == 405


# --- sending ---------------------------------------------------------------------------------


async def test_send_sms_records_fields_and_returns_sid(
    fake: FakeTwilio, sender: TwilioAdapter
) -> None:
    result = await sender.send(message(text="hello there"))
    [call] = fake.calls_to("messages")
    assert call.status == 201
    assert call.params["To"] == USER
    assert call.params["From"] == OUR_NUMBER
    assert call.params["Body"] == "hello there"
    assert call.params["StatusCallback"] == f"{PUBLIC}/webhooks/twilio/default/status"
    assert "MessagingServiceSid" not in call.params
    assert result.provider_message_id == fake.messages[0]["sid"]
    assert result.provider_message_id.startswith("SM") and len(result.provider_message_id) == 34


async def test_send_whatsapp_prefixes_from(fake: FakeTwilio, sender: TwilioAdapter) -> None:
    await sender.send(message(chat="whatsapp:+14155550100"))
    [call] = fake.calls_to("messages")
    assert call.params["To"] == "whatsapp:+14155550100"
    assert call.params["From"] == f"whatsapp:{OUR_NUMBER}"


async def test_send_through_messaging_service_without_public_url(fake: FakeTwilio) -> None:
    config = {"from_number": None, "messaging_service_sid": "MG" + "b" * 32, "public_url": None}
    twilio = TwilioAdapter(account(api_base_url=fake.base_url, **config))
    try:
        await twilio.send(message())
    finally:
        await twilio.close()
    [call] = fake.calls_to("messages")
    assert call.params["MessagingServiceSid"] == "MG" + "b" * 32
    assert "From" not in call.params
    assert "StatusCallback" not in call.params
    assert fake.messages[0]["status"] == "accepted"


async def test_one_session_per_adapter_and_close_releases_it(
    fake: FakeTwilio, sender: TwilioAdapter
) -> None:
    await sender.send(message())
    session = sender._http._session  # type: ignore[union-attr]
    await sender.send(message())
    assert sender._http._session is session  # type: ignore[union-attr]
    assert len(fake.messages) == 2
    await sender.close()
    assert session is not None and session.closed


@pytest.mark.parametrize(
    ("retry_after", "expected"), [(7, 7.0), (None, 5.0)], ids=["header", "default"]
)
async def test_rate_limit_is_retry_after(
    fake: FakeTwilio, sender: TwilioAdapter, retry_after: int | None, expected: float
) -> None:
    fake.fail_next(status=429, code=20429, message="Too Many Requests", retry_after=retry_after)
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert info.value.retry_after == expected
    assert not info.value.permanent
    result = await sender.send(message())  # the failure was used up
    assert result.provider_message_id


async def test_opted_out_recipient_is_permanent(fake: FakeTwilio, sender: TwilioAdapter) -> None:
    fake.opted_out.add(USER)
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert info.value.permanent
    assert "opted out (21610)" in info.value.reason
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    ("chat", "code", "status", "text"),
    [
        ("12345", 21211, 400, "is not a valid phone number"),
        (USER, 21408, 400, "Permission to send an SMS has not been enabled"),
        (USER, 21612, 400, "The 'To' phone number is not currently reachable"),
        ("whatsapp:+14155550100", 63016, 400, "outside the allowed window"),
    ],
)
async def test_client_errors_are_permanent_with_code(
    fake: FakeTwilio, sender: TwilioAdapter, chat: str, code: int, status: int, text: str
) -> None:
    if code != 21211:
        fake.fail_next(status=status, code=code, message=text)
    with pytest.raises(SendError) as info:
        await sender.send(message(chat=chat))
    assert info.value.permanent
    assert info.value.reason.startswith(f"twilio {code}: ")
    assert text in info.value.reason


async def test_bad_credentials_are_permanent_and_secret_free(fake: FakeTwilio) -> None:
    twilio = TwilioAdapter(
        AccountInfo(
            "p",
            "sms",
            "default",
            {"auth_token": "wrong-token-value"},
            {
                "account_sid": DEFAULT_ACCOUNT_SID,
                "from_number": OUR_NUMBER,
                "api_base_url": fake.base_url,
            },
        )
    )
    try:
        with pytest.raises(SendError) as info:
            await twilio.send(message())
    finally:
        await twilio.close()
    assert info.value.permanent
    assert info.value.reason.startswith("twilio 20003")
    assert "wrong-token-value" not in info.value.reason


async def test_server_error_is_transient(fake: FakeTwilio, sender: TwilioAdapter) -> None:
    fake.fail_next(status=503, code=20503, message="Service Unavailable")
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert not info.value.permanent
    assert info.value.retry_after is None


async def test_connection_refused_is_transient() -> None:
    port = free_port()  # nobody listens there (this worker's block: tests.auxil.harness)
    twilio = TwilioAdapter(account(api_base_url=f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(SendError) as info:
            await twilio.send(message())
    finally:
        await twilio.close()
    assert not info.value.permanent and info.value.retry_after is None


async def test_timeout_is_transient(fake: FakeTwilio, sender: TwilioAdapter) -> None:
    fake.delay_seconds = 1.0
    sender.timeout = 0.2
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert not info.value.permanent and info.value.retry_after is None
    assert "TimeoutError" in info.value.reason


async def test_missing_sender_config_is_permanent(fake: FakeTwilio) -> None:
    twilio = TwilioAdapter(account(api_base_url=fake.base_url, from_number=None))
    with pytest.raises(SendError) as info:
        await twilio.send(message())
    assert info.value.permanent
    assert fake.calls == []


# --- operator helpers ------------------------------------------------------------------------


async def test_fetch_account_drops_credentials(fake: FakeTwilio, sender: TwilioAdapter) -> None:
    info = await sender.fetch_account()
    assert info == {
        "sid": DEFAULT_ACCOUNT_SID,
        "friendly_name": "Fake Twilio account",
        "status": "active",
        "type": "Full",
    }
    assert fake.calls_to("account")[0].status == 200


async def test_configure_number(fake: FakeTwilio, sender: TwilioAdapter) -> None:
    fake.add_number("+15005550007")
    result = await sender.configure_number(OUR_NUMBER, f"{HOOK}", STATUS_HOOK)
    number = fake.numbers[OUR_NUMBER]
    assert (number.sms_url, number.sms_method, number.status_callback) == (
        HOOK,
        "POST",
        STATUS_HOOK,
    )
    assert result["sid"] == number.sid
    assert fake.numbers["+15005550007"].sms_url == ""
    assert fake.calls_to("numbers.list")[0].params["PhoneNumber"] == OUR_NUMBER


async def test_configure_unknown_number(fake: FakeTwilio, sender: TwilioAdapter) -> None:
    with pytest.raises(SendError) as info:
        await sender.configure_number("+15005559999", HOOK, STATUS_HOOK)
    assert info.value.permanent
    assert fake.calls_to("numbers.update") == []
