"""WhatsApp Cloud API adapter: signatures, handshake, parsing, sending, against the fake Graph
API over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.common import is_bsuid
from channels.whatsapp import WhatsAppAdapter
from channels.whatsapp_version import API_VERSION
from gateway.dev.fake_whatsapp import (
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_APP_SECRET,
    DEFAULT_PHONE_NUMBER_ID,
    FakeWhatsApp,
    button_reply,
    contact,
    list_reply,
    media_message,
    reaction_message,
    sign,
    signed_body,
    status,
    template_button,
    text_message,
    webhook_payload,
)
from gateway.messages import (
    AccountInfo,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    SendError,
    WebhookRejected,
)
from tests.auxil.harness import free_port

HOOK = "https://gw.example.com/webhooks/whatsapp/default"
VERIFY_TOKEN = "verify-me-please"
USER = "16505551234"
ACCOUNT_VERSION = "v23.0"  # an account's own `api_version`, not the default


def account(app_secret: str = DEFAULT_APP_SECRET, **config: Any) -> AccountInfo:
    return AccountInfo(
        project="default",
        channel="whatsapp",
        account="default",
        secrets={
            "access_token": DEFAULT_ACCESS_TOKEN,
            "app_secret": app_secret,
            "verify_token": VERIFY_TOKEN,
        },
        config={"phone_number_id": DEFAULT_PHONE_NUMBER_ID, **config},
    )


def request(body: bytes, headers: dict[str, str] | None = None) -> InboundRequest:
    return InboundRequest("POST", HOOK, headers or {}, {}, body)


def signed(payload: dict[str, Any]) -> InboundRequest:
    return request(*signed_body(payload))


def parse_one(adapter: WhatsAppAdapter, message: dict[str, Any]) -> InboundEvent:
    [event] = adapter.parse(signed(webhook_payload(messages=[message])))
    return event


@pytest.fixture
def adapter() -> WhatsAppAdapter:
    return WhatsAppAdapter(account())


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeWhatsApp]:
    server = FakeWhatsApp()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def sender(fake: FakeWhatsApp) -> AsyncIterator[WhatsAppAdapter]:
    whatsapp = WhatsAppAdapter(account(api_base_url=fake.base_url, api_version=ACCOUNT_VERSION))
    yield whatsapp
    await whatsapp.close()


def message(text: str = "hello", **options: Any) -> OutboundMessage:
    return OutboundMessage("whatsapp", "default", USER, text, options=options)


# --- signatures and handshake ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "body", "signature"),
    [
        ("secret", b"test", "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"),
        (
            "app_secret_123",
            b'{"object":"whatsapp_business_account","entry":[]}',
            "02fe0c96d28c59ddb7cf81eff0ca05809b360ba73b63c28210b5906a0a107d1f",
        ),
    ],
)
def test_documented_vectors_verify(secret: str, body: bytes, signature: str) -> None:
    adapter = WhatsAppAdapter(account(app_secret=secret))
    adapter.verify(request(body, {"X-Hub-Signature-256": f"sha256={signature}"}))
    assert sign(body, secret) == f"sha256={signature}"


def test_missing_signature_is_401(adapter: WhatsAppAdapter) -> None:
    with pytest.raises(WebhookRejected) as info:
        adapter.verify(request(b"{}"))
    assert info.value.status == 401


@pytest.mark.parametrize(
    "tamper", ["body_byte", "wrong_key", "no_prefix", "not_hex", "surrogates", "empty"]
)
def test_bad_signatures_are_403(adapter: WhatsAppAdapter, tamper: str) -> None:
    body, headers = signed_body(webhook_payload(messages=[text_message(USER, "pay 10")]))
    if tamper == "body_byte":
        body = body.replace(b"pay 10", b"pay 90")
    elif tamper == "wrong_key":
        headers["X-Hub-Signature-256"] = sign(body, "another-secret")
    elif tamper == "no_prefix":
        headers["X-Hub-Signature-256"] = headers["X-Hub-Signature-256"].removeprefix("sha256=")
    elif tamper == "not_hex":
        headers["X-Hub-Signature-256"] = "sha256=" + "zz" * 32
    elif tamper == "surrogates":
        headers["X-Hub-Signature-256"] = "sha256=\udcff\ud800"
    else:
        headers["X-Hub-Signature-256"] = ""
    with pytest.raises(WebhookRejected) as info:
        adapter.verify(request(body, headers))
    assert info.value.status == 403


def test_signature_header_name_is_case_insensitive(adapter: WhatsAppAdapter) -> None:
    body = b'{"object":"page"}'
    adapter.verify(request(body, {"x-hub-signature-256": sign(body)}))


def handshake_request(**query: str) -> InboundRequest:
    return InboundRequest("GET", HOOK, {}, query, b"")


def test_handshake_returns_the_challenge(adapter: WhatsAppAdapter) -> None:
    reply = adapter.handshake(
        handshake_request(
            **{
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1158201444",
            }
        )
    )
    assert (reply.status, reply.body, reply.content_type) == (200, b"1158201444", "text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "\udcff", "hub.challenge": "1"},
    ],
)
def test_handshake_refuses_a_bad_token(adapter: WhatsAppAdapter, query: dict[str, str]) -> None:
    with pytest.raises(WebhookRejected) as info:
        adapter.handshake(handshake_request(**query))
    assert info.value.status == 403


# --- parsing ---------------------------------------------------------------------------------


def test_text_message(adapter: WhatsAppAdapter) -> None:
    msg = text_message(USER, "hello", message_id="wamid.ABC", timestamp=1739321024)
    payload = webhook_payload(messages=[msg], contacts=[contact(USER, "Sheena Nelson")])
    [event] = adapter.parse(signed(payload))
    assert (event.channel, event.account, event.kind) == ("whatsapp", "default", "message")
    assert event.event_id == "wamid.ABC"
    assert event.sender == event.chat == USER
    assert event.text == "hello"
    assert event.display_name == "Sheena Nelson"
    assert event.timestamp == datetime(2025, 2, 12, 0, 43, 44, tzinfo=UTC)
    assert event.raw["id"] == "wamid.ABC"


def test_reply_button_is_an_action(adapter: WhatsAppAdapter) -> None:
    event = parse_one(adapter, button_reply(USER, "appr:7f3a:yes", "Approve", context_id="w.P"))
    assert (event.kind, event.action, event.text) == ("action", "appr:7f3a:yes", "Approve")
    assert event.hints["context_id"] == "w.P"


def test_list_reply_is_an_action(adapter: WhatsAppAdapter) -> None:
    event = parse_one(adapter, list_reply(USER, "row_1", "First row"))
    assert (event.kind, event.action, event.text) == ("action", "row_1", "First row")


def test_template_quick_reply_is_an_action(adapter: WhatsAppAdapter) -> None:
    event = parse_one(adapter, template_button(USER, "stop-promos", "Stop promotions"))
    assert (event.kind, event.action, event.text) == ("action", "stop-promos", "Stop promotions")


@pytest.mark.parametrize(
    ("kind", "mime_type"),
    [
        ("image", "image/jpeg"),
        ("audio", "audio/ogg; codecs=opus"),
        ("video", "video/mp4"),
        ("document", "application/pdf"),
        ("sticker", "image/webp"),
    ],
)
def test_media_messages(adapter: WhatsAppAdapter, kind: str, mime_type: str) -> None:
    msg = media_message(USER, kind, media_id="1234567890", mime_type=mime_type, caption="look")
    event = parse_one(adapter, msg)
    assert event.kind == "message"
    assert event.text == "look"
    assert [(a.kind, a.file_id, a.mime_type) for a in event.attachments] == [
        (kind, "1234567890", mime_type)
    ]


def test_reaction_is_unsupported_with_hints(adapter: WhatsAppAdapter) -> None:
    event = parse_one(adapter, reaction_message(USER, "wamid.TARGET", "👍"))
    assert event.kind == "unsupported"
    assert event.hints["type"] == "reaction"
    assert event.hints["emoji"] == "👍"
    assert event.hints["target_message_id"] == "wamid.TARGET"


@pytest.mark.parametrize("kind", ["system", "request_welcome", "revoke", "contacts", "order"])
def test_recorded_types_and_empty_bodies_are_unsupported(
    adapter: WhatsAppAdapter, kind: str
) -> None:
    msg = {**text_message(USER, "x"), "type": kind}  # contacts, order: nothing in them
    del msg["text"]
    event = parse_one(adapter, msg)
    assert (event.kind, event.hints["type"]) == ("unsupported", kind)
    assert event.sender == USER
    assert event.event_id == msg["id"]


def test_an_edit_is_recorded_as_an_edit(adapter: WhatsAppAdapter) -> None:
    """A Coexistence user edited a message they sent: recorded like a Telegram edit, never
    answered as an unreadable message."""
    msg = {**text_message(USER, "x"), "type": "edit"}
    msg["edit"] = {
        "original_message_id": "wamid.ORIGINAL",
        "message": {"type": "text", "text": {"body": "Text was edited"}},
    }
    del msg["text"]
    event = parse_one(adapter, msg)
    assert (event.kind, event.sender, event.event_id) == ("edited", USER, msg["id"])
    assert event.hints == {"type": "edit", "target_message_id": "wamid.ORIGINAL"}
    assert not event.actionable


@pytest.mark.parametrize(
    "msg",
    [
        text_message(USER, "hello group"),
        media_message(USER, "image", media_id="1234567890"),
    ],
)
def test_a_group_message_is_recorded_never_answered_in_private(
    adapter: WhatsAppAdapter, msg: dict[str, Any]
) -> None:
    """Only 1:1 chats are answered: an answer to the sender's own number would take the
    group's talk private."""
    event = parse_one(adapter, {**msg, "group_id": "Y2FwaV9ncm91cDpFWEFNUExF"})
    assert (event.kind, event.sender) == ("unsupported", USER)
    assert event.hints["type"] == f"group:{msg['type']}"
    assert event.hints["group_id"] == "Y2FwaV9ncm91cDpFWEFNUExF"


@pytest.mark.parametrize("kind", ["unsupported", "unknown", "new"])
def test_unreadable_types_stay_messages_with_nothing_to_read(
    adapter: WhatsAppAdapter, kind: str
) -> None:
    """The user sent something: the turn's Unreadable handler answers it."""
    msg = {**text_message(USER, "x"), "type": kind, "errors": [{"code": 131051, "title": "T"}]}
    del msg["text"]
    event = parse_one(adapter, msg)
    assert (event.kind, event.text, event.attachments) == ("message", None, [])
    assert event.hints == {"type": kind, "error_code": 131051, "error_title": "T"}


def test_a_known_type_with_only_errors_is_recorded_with_the_error(
    adapter: WhatsAppAdapter,
) -> None:
    msg = {**text_message(USER, "x"), "type": "interactive", "errors": [{"code": 131051}]}
    del msg["text"]
    event = parse_one(adapter, msg)
    assert event.kind == "unsupported"
    assert event.hints == {
        "type": "interactive",
        "reason": "the message carries errors",
        "error_code": 131051,
    }


def test_an_order_is_text_listing_its_items(adapter: WhatsAppAdapter) -> None:
    msg = {**text_message(USER, "x"), "type": "order"}
    msg["order"] = {
        "catalog_id": "CAT1",
        "text": "  asap ",
        "product_items": [
            {"product_retailer_id": "A1", "quantity": "3", "item_price": "4.50", "currency": "BRL"},
            {"product_retailer_id": "B2", "quantity": 1},
        ],
    }
    event = parse_one(adapter, msg)
    assert event.kind == "message"
    assert event.text == "Order from catalog CAT1:\n- 3 x A1 at 4.50 BRL\n- 1 x B2\n\nasap"


@pytest.mark.parametrize(
    "item",
    [{"quantity": 1}, {"product_retailer_id": "A", "quantity": "x"},
     {"product_retailer_id": "A", "quantity": 1, "item_price": [1]}],
    ids=["no_product", "quantity", "price"],
)  # fmt: skip
def test_an_order_of_the_wrong_shape_is_recorded(
    adapter: WhatsAppAdapter, item: dict[str, Any]
) -> None:
    msg = {**text_message(USER, "x"), "type": "order"}
    msg["order"] = {"catalog_id": "C", "product_items": [item]}
    event = parse_one(adapter, msg)
    assert event.kind == "unsupported"
    assert event.hints["reason"].startswith("unexpected shape at order.product_items")


def test_a_flow_reply_is_a_message_with_what_the_user_filled_in(adapter: WhatsAppAdapter) -> None:
    """Shape: Meta's "Flows" webhook example (developers.facebook.com/docs/whatsapp/flows/
    reference/responsemsgwebhook): `nfm_reply` with `name`, `body` ("Sent"), `response_json`."""
    msg = text_message(USER, "x")
    msg.pop("text")
    answers = '{"flow_token": "t1", "size": "M"}'
    msg |= {
        "type": "interactive",
        "interactive": {
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": answers},
        },
    }
    event = parse_one(adapter, msg)
    assert (event.kind, event.text) == ("message", f"Form reply (flow): {answers}")
    msg["interactive"]["nfm_reply"] = {}
    assert parse_one(adapter, msg).text == "Form reply (flow): {}"


def test_statuses(adapter: WhatsAppAdapter) -> None:
    failed = status("wamid.OUT", "failed", USER, error_code=131047, timestamp=1750857384)
    [event] = adapter.parse(signed(webhook_payload(statuses=[failed])))
    assert event.kind == "status"
    assert event.event_id == "wamid.OUT:failed"
    assert event.chat == USER
    assert event.hints == {
        "provider_message_id": "wamid.OUT",
        "status": "failed",
        "error_code": 131047,
        "error_title": "Re-engagement message",
    }
    assert event.timestamp == datetime.fromtimestamp(1750857384, UTC)


def test_a_contacts_list_of_the_wrong_shape_only_loses_the_names(
    adapter: WhatsAppAdapter,
) -> None:
    events = adapter.parse(signed(_broken("entry.0.changes.0.value.contacts", "x")))
    assert [(e.kind, e.display_name) for e in events] == [("message", None), ("status", None)]


def test_one_post_with_three_messages_and_two_statuses(adapter: WhatsAppAdapter) -> None:
    first = webhook_payload(
        messages=[text_message(USER, "one"), text_message("447700900123", "two")],
        statuses=[status("wamid.S1", "delivered", USER)],
    )
    second = webhook_payload(
        messages=[button_reply(USER, "b1", "Yes")], statuses=[status("wamid.S1", "read", USER)]
    )
    first["entry"] += second["entry"]
    events = adapter.parse(signed(first))
    assert [e.kind for e in events].count("status") == 2
    assert [e.text for e in events if e.kind != "status"] == ["one", "two", "Yes"]
    assert [e.event_id for e in events if e.kind == "status"] == [
        "wamid.S1:delivered",
        "wamid.S1:read",
    ]
    assert [e.display_name for e in events if e.kind != "status"] == [
        "User 1234",
        "User 0123",
        "User 1234",
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "page", "entry": [{"changes": [{"field": "feed", "value": {}}]}]},
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": []},
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": []}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "account_update", "value": "x"}]}],
        },
        webhook_payload(messages=[text_message(USER, "hi")], phone_number_id="999"),
    ],
    ids=["other_object", "no_entry", "empty_entry", "no_changes", "other_field", "other_number"],
)
def test_nothing_to_do_is_an_empty_list(adapter: WhatsAppAdapter, payload: dict[str, Any]) -> None:
    assert adapter.parse(signed(payload)) == []


def _broken(path: str, value: Any) -> dict[str, Any]:
    payload = webhook_payload(
        messages=[text_message(USER, "hi")], statuses=[status("wamid.S", "sent", USER)]
    )
    target: Any = payload
    *parents, last = path.split(".")
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return payload


M = "entry.0.changes.0.value.messages.0"
S = "entry.0.changes.0.value.statuses.0"


@pytest.mark.parametrize(
    ("path", "value", "read"),
    [
        ("entry", {"changes": []}, []),
        ("entry.0", "not an object", []),
        ("entry.0.changes", {"0": {}}, []),
        ("entry.0.changes.0.value", ["x"], []),
        ("entry.0.changes.0.value.metadata", [], []),
        ("entry.0.changes.0.value.messages", {"from": USER}, ["status"]),
        (M, 7, ["status"]),
        (f"{M}.from", 16505551234, ["status"]),
        (f"{M}.id", "", ["status"]),
        (f"{M}.id", "wamid." + "x" * 200, ["status"]),
        (f"{M}.text", "hi", ["status"]),
        (f"{M}.text", {"body": ["hi"]}, ["status"]),
        (f"{M}.timestamp", "yesterday", ["status"]),
        (f"{M}.timestamp", 10**400, ["status"]),
        (f"{M}.type", 5, ["status"]),
        (f"{S}.errors", {"code": 1}, ["message"]),
        (f"{S}.status", None, ["message"]),
    ],
)
def test_wrong_shapes_are_recorded_and_never_cost_the_rest(
    adapter: WhatsAppAdapter, path: str, value: Any, read: list[str]
) -> None:
    """What is broken is one `unsupported` event with its reason; what is not (the message or
    the status beside it) is read; a redelivery gives the same ids."""
    payload = _broken(path, value)
    events = adapter.parse(signed(payload))
    [odd] = [event for event in events if event.kind == "unsupported"]
    assert sorted(event.kind for event in events if event.kind != "unsupported") == read
    assert odd.hints["reason"]  # "unexpected shape at ...", "invalid field(s): event_id"
    assert odd.hints["position"].startswith("payload.entry")
    again = adapter.parse(signed(payload))
    assert [e.event_id for e in again] == [e.event_id for e in events]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[1, 2]",
        b'"text"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"object": "whatsapp_business_account", "x": ' + b"9" * 5000 + b"}",
    ],
    ids=["empty", "text", "not_utf8", "list", "string", "deep", "huge_int"],
)
def test_malformed_json_is_400(adapter: WhatsAppAdapter, body: bytes) -> None:
    with pytest.raises(WebhookRejected) as info:
        adapter.parse(request(body, {"X-Hub-Signature-256": sign(body)}))
    assert info.value.status == 400


_KEYS = st.sampled_from(
    ["object", "entry", "changes", "field", "value", "messages", "statuses", "contacts",
     "metadata", "phone_number_id", "from", "id", "type", "text", "body", "timestamp",
     "interactive", "button_reply", "title", "image", "mime_type", "errors", "code", "status",
     "recipient_id", "profile", "name", "wa_id", "reaction", "emoji", "context"]
)  # fmt: skip
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["whatsapp_business_account", "messages", "text", "interactive", "image"])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry=_JSON)
def test_arbitrary_shapes_are_read_or_recorded_never_refused(entry: Any) -> None:
    """A JSON object is never refused, whatever its entries hold."""
    adapter = WhatsAppAdapter(account())
    payload = {"object": "whatsapp_business_account", "entry": entry}
    events = adapter.parse(request(json.dumps(payload).encode()))
    assert all(isinstance(event, InboundEvent) for event in events)


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=200), signature=st.none() | st.text(max_size=80))
def test_garbage_bytes_only_raise_webhook_rejected(body: bytes, signature: str | None) -> None:
    adapter = WhatsAppAdapter(account())
    headers = {} if signature is None else {"X-Hub-Signature-256": signature}
    for step in (adapter.verify, adapter.parse):
        try:
            step(request(body, headers))
        except WebhookRejected as exc:
            assert exc.status in (400, 401, 403)


# --- sending ---------------------------------------------------------------------------------


async def test_send_text(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    result = await sender.send(message("hello there"))
    [call] = fake.calls_to("messages")
    assert call.path == f"/{ACCOUNT_VERSION}/{DEFAULT_PHONE_NUMBER_ID}/messages"
    assert call.authorized and call.status == 200
    assert call.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": USER,
        "type": "text",
        "text": {"body": "hello there", "preview_url": False},
    }
    assert result.provider_message_id == fake.messages[0]["id"]
    assert result.provider_message_id.startswith("wamid.")


async def test_send_reply_buttons(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    buttons = [
        {"id": "appr:7f3a:yes", "title": "Approve"},
        {"id": "appr:7f3a:no", "title": "Deny this request right now please"},
        {"id": "appr:7f3a:later", "title": "Later"},
        {"id": "appr:7f3a:extra", "title": "Fourth"},
    ]
    await sender.send(message("Run `rm -rf build`?", buttons=buttons))
    [sent] = fake.messages
    assert sent["type"] == "interactive"
    interactive = sent["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"] == {"text": "Run `rm -rf build`?"}
    replies = [b["reply"] for b in interactive["action"]["buttons"]]
    assert [r["id"] for r in replies] == ["appr:7f3a:yes", "appr:7f3a:no", "appr:7f3a:later"]
    assert all(len(r["title"]) <= 20 for r in replies)
    assert replies[1]["title"].startswith("Deny this request")


async def test_send_quotes_reply_to(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    outbound = OutboundMessage("whatsapp", "default", USER, "hi", reply_to="wamid.IN")
    await sender.send(outbound)
    assert fake.messages[0]["context"] == {"message_id": "wamid.IN"}


async def test_outside_window_is_permanent(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    fake.outside_window.add(USER)
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert info.value.permanent
    assert "outside the 24-hour window (131047)" in info.value.reason


@pytest.mark.parametrize(
    ("status_code", "code", "retry_after", "expected"),
    [(429, 130429, 3, 3.0), (429, 130429, None, 5.0), (400, 131056, None, 5.0), (400, 4, 2, 2.0)],
)
async def test_rate_limits_are_retry_after(
    fake: FakeWhatsApp,
    sender: WhatsAppAdapter,
    status_code: int,
    code: int,
    retry_after: int | None,
    expected: float,
) -> None:
    fake.fail_next(status=status_code, code=code, message="rate limit hit", retry_after=retry_after)
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert info.value.retry_after == expected
    assert not info.value.permanent
    assert (await sender.send(message())).provider_message_id


async def test_bad_token_is_permanent_and_secret_free(fake: FakeWhatsApp) -> None:
    info_ = account(api_base_url=fake.base_url)
    whatsapp = WhatsAppAdapter(
        AccountInfo(
            info_.project,
            info_.channel,
            info_.account,
            {**info_.secrets, "access_token": "expired-token-value"},
            info_.config,
        )
    )
    try:
        with pytest.raises(SendError) as info:
            await whatsapp.send(message())
    finally:
        await whatsapp.close()
    assert info.value.permanent
    assert info.value.reason.startswith("whatsapp 190: ")
    assert "expired-token-value" not in info.value.reason


async def test_other_client_errors_are_permanent(
    fake: FakeWhatsApp, sender: WhatsAppAdapter
) -> None:
    fake.fail_next(status=400, code=131026, message="Message undeliverable")
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert info.value.permanent
    assert info.value.reason == "whatsapp 131026: (#131026) Message undeliverable"


async def test_server_errors_are_transient(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    fake.fail_next(status=500, code=131000, message="Something went wrong")
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert not info.value.permanent and info.value.retry_after is None


async def test_connection_refused_is_transient() -> None:
    port = free_port()  # nobody listens there (this worker's block: tests.auxil.harness)
    whatsapp = WhatsAppAdapter(account(api_base_url=f"http://127.0.0.1:{port}"))
    try:
        with pytest.raises(SendError) as info:
            await whatsapp.send(message())
    finally:
        await whatsapp.close()
    assert not info.value.permanent and info.value.retry_after is None


async def test_timeout_is_transient(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    fake.delay_seconds = 1.0
    sender.timeout = 0.2
    with pytest.raises(SendError) as info:
        await sender.send(message())
    assert not info.value.permanent and info.value.retry_after is None


async def test_one_session_per_adapter(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    await sender.send(message())
    session = sender.session
    await sender.send(message())
    assert sender.session is session
    await sender.close()
    assert session.closed


async def test_mark_received_sends_a_read_receipt(
    fake: FakeWhatsApp, sender: WhatsAppAdapter
) -> None:
    payload = webhook_payload(
        messages=[text_message(USER, "hi", message_id="wamid.IN1"), button_reply(USER, "b", "B")],
        statuses=[status("wamid.OUT", "delivered", USER)],
    )
    events = sender.parse(signed(payload))
    for event in events:
        await sender.mark_received(event)
    assert fake.reads == ["wamid.IN1", events[1].event_id]
    assert fake.calls_to("read")[0].body == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN1",
    }
    assert fake.messages == []


async def test_mark_received_swallows_failures(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    [event] = sender.parse(signed(webhook_payload(messages=[text_message(USER, "hi")])))
    await fake.stop()
    await sender.mark_received(event)  # no exception


async def test_fetch_phone_number(fake: FakeWhatsApp, sender: WhatsAppAdapter) -> None:
    info = await sender.fetch_phone_number()
    assert info["id"] == DEFAULT_PHONE_NUMBER_ID
    assert fake.calls_to("phone_number")[0].path == f"/{ACCOUNT_VERSION}/{DEFAULT_PHONE_NUMBER_ID}"


async def test_default_api_version(fake: FakeWhatsApp) -> None:
    whatsapp = WhatsAppAdapter(account(api_base_url=fake.base_url + "/"))
    try:
        await whatsapp.send(message())
    finally:
        await whatsapp.close()
    assert fake.calls[0].path == f"/{API_VERSION}/{DEFAULT_PHONE_NUMBER_ID}/messages"


# --- business-scoped user ids (users known by a username) -------------------------------------

BSUID = "US.13491208655302741918"
PARENT_BSUID = "US.ENT.11815799212886844830"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (BSUID, True),
        (PARENT_BSUID, True),
        ("BR.1502576394655843", True),
        ("IN.2081978709342942", True),
        ("16505551234", False),
        ("+16505551234", False),
        ("whatsapp:US.13491208655302741918", False),
        ("us.13491208655302741918", False),
        ("US.", False),
        ("US.1349 1208", False),
        ("US.1349\n", False),
        ("USA.13491208655302741918", False),
        ("", False),
        (None, False),
        (13491208655302741918, False),
    ],
)
def test_is_bsuid(value: Any, expected: bool) -> None:
    assert is_bsuid(value) is expected


def test_a_username_only_message_is_from_its_bsuid(adapter: WhatsAppAdapter) -> None:
    msg = text_message(BSUID, "hi, I only have a username", message_id="wamid.U1")
    assert "from" not in msg and msg["from_user_id"] == BSUID
    payload = webhook_payload(messages=[msg], contacts=[contact(BSUID, "Robin")])
    [event] = adapter.parse(signed(payload))
    assert (event.kind, event.event_id, event.text) == (
        "message",
        "wamid.U1",
        "hi, I only have a username",
    )
    assert event.sender == event.chat == BSUID
    assert event.display_name == "Robin"
    assert event.hints == {"user_id": BSUID}


def test_a_parent_bsuid_sender(adapter: WhatsAppAdapter) -> None:
    event = parse_one(adapter, button_reply(PARENT_BSUID, "appr:1:yes", "Approve"))
    assert (event.kind, event.action, event.sender, event.chat) == (
        "action",
        "appr:1:yes",
        PARENT_BSUID,
        PARENT_BSUID,
    )


def test_the_number_stays_the_sender_when_meta_gives_both(adapter: WhatsAppAdapter) -> None:
    msg = text_message(USER, "hello") | {"from_user_id": BSUID}
    contacts = [contact(USER, "Kerry") | {"user_id": BSUID}]
    [event] = adapter.parse(signed(webhook_payload(messages=[msg], contacts=contacts)))
    assert event.sender == event.chat == USER
    assert event.display_name == "Kerry"
    assert event.hints["user_id"] == BSUID


@pytest.mark.parametrize("user_id", ["robin", "", 42, None, "US.13491208655302741918 "])
def test_no_number_and_no_usable_bsuid_is_recorded(adapter: WhatsAppAdapter, user_id: Any) -> None:
    msg = {k: v for k, v in text_message(USER, "hi").items() if k != "from"}
    if user_id is not None:
        msg["from_user_id"] = user_id
    [event] = adapter.parse(signed(webhook_payload(messages=[msg], contacts=[])))
    assert event.kind == "unsupported"
    assert event.hints["reason"] == "unexpected shape at message.from"


def test_a_status_for_a_username_only_user(adapter: WhatsAppAdapter) -> None:
    delivered = status("wamid.OUT", "delivered", BSUID)
    assert "recipient_id" not in delivered and delivered["recipient_user_id"] == BSUID
    [event] = adapter.parse(signed(webhook_payload(statuses=[delivered])))
    assert (event.kind, event.event_id, event.chat) == ("status", "wamid.OUT:delivered", BSUID)
    assert event.hints["status"] == "delivered"


def test_a_status_with_both_ids_names_the_number(adapter: WhatsAppAdapter) -> None:
    read = status("wamid.OUT", "read", USER) | {"recipient_user_id": BSUID}
    [event] = adapter.parse(signed(webhook_payload(statuses=[read])))
    assert event.chat == USER


@pytest.mark.parametrize("chat", [BSUID, PARENT_BSUID])
async def test_send_text_to_a_bsuid_uses_recipient(
    fake: FakeWhatsApp, sender: WhatsAppAdapter, chat: str
) -> None:
    result = await sender.send(OutboundMessage("whatsapp", "default", chat, "hello there"))
    [call] = fake.calls_to("messages")
    assert call.status == 200
    assert call.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": chat,
        "type": "text",
        "text": {"body": "hello there", "preview_url": False},
    }
    assert (result.chat, result.provider_message_id) == (chat, fake.messages[0]["id"])
    assert fake.sent_texts(chat) == ["hello there"]
    assert fake.sent_to() == [(chat, "recipient")]


async def test_every_message_to_a_bsuid_uses_recipient(
    fake: FakeWhatsApp, sender: WhatsAppAdapter
) -> None:
    buttons = [{"id": "a", "title": "A"}]
    image = "https://cdn.example.com/cat.jpg"
    fake.unusable_media.add("https://cdn.example.com/broken.jpg")
    for options in ({"buttons": buttons}, {"image_url": image}):
        await sender.send(OutboundMessage("whatsapp", "default", BSUID, "look", options=options))
    broken = {"image_url": "https://cdn.example.com/broken.jpg"}  # refused, then sent as a link
    await sender.send(OutboundMessage("whatsapp", "default", BSUID, "see", options=broken))
    calls = fake.calls_to("messages")
    assert [c.body["type"] for c in calls] == ["interactive", "image", "image", "text"]
    assert all(c.body["recipient"] == BSUID and "to" not in c.body for c in calls)
    assert fake.sent_texts(BSUID) == ["look", "see (https://cdn.example.com/broken.jpg)"]
    assert fake.sent_images(BSUID) == [(image, "look")]
    assert fake.sent_texts(USER) == []


async def test_read_receipts_and_typing_for_a_bsuid_need_no_addressee(
    fake: FakeWhatsApp, sender: WhatsAppAdapter
) -> None:
    [event] = sender.parse(signed(webhook_payload(messages=[text_message(BSUID, "hi")])))
    await sender.mark_received(event)
    await sender.send_typing(event)
    assert fake.reads == [event.event_id, event.event_id]
    for call in fake.calls_to("read"):
        assert call.status == 200
        assert not {"to", "recipient"} & set(call.body)


async def test_a_bsuid_refusal_is_permanent_with_the_reason(
    fake: FakeWhatsApp, sender: WhatsAppAdapter
) -> None:
    fake.bsuid_refused.add("text")
    with pytest.raises(SendError) as info:
        await sender.send(OutboundMessage("whatsapp", "default", BSUID, "hello"))
    assert info.value.permanent
    assert "131062" in info.value.reason
    assert "business-scoped user id" in info.value.reason
    assert fake.messages == []
    await sender.send(message("hello"))  # a phone number: `to`, never refused so
    assert fake.sent_to() == [(USER, "to")]
