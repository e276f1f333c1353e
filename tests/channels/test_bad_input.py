"""Bad input at the SMS and WhatsApp webhooks: never a 5xx, never a row for an unverified
request; signed garbage is a 400 (or an acknowledged no-op), never a crash."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.dev import fake_twilio, fake_whatsapp
from tests.auxil.harness import Harness

EXAMPLES = 60

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
forms = st.dictionaries(
    st.sampled_from(["MessageSid", "From", "To", "Body", "NumMedia", "MediaUrl0", "ButtonPayload"])
    | st.text(max_size=12),
    st.text(max_size=40),
    max_size=8,
)


def header_text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """What an HTTP client can put in a header (raw-byte headers are covered by the Telegram
    route's fuzzing, which shares the webhook code path)."""
    printable = st.characters(min_codepoint=32, max_codepoint=126)
    return st.text(printable, min_size=min_size, max_size=max_size)


def drawn(strategy: st.SearchStrategy[Any], count: int = EXAMPLES) -> list[Any]:
    """Examples drawn by hypothesis up front (the requests themselves are async)."""
    found: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found


def whatsapp_shaped(document: Any) -> dict[str, Any]:
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": document}]}


async def test_whatsapp_signed_garbage_is_400_or_acknowledged(gw: Harness) -> None:
    bodies: list[bytes] = drawn(st.binary(max_size=512), 40)
    bodies += [json.dumps(doc).encode() for doc in drawn(json_values, 40)]
    bodies += [json.dumps(whatsapp_shaped(doc)).encode() for doc in drawn(json_values, 40)]
    bodies += [b"[" * 50_000, b'{"entry": [{"changes": [{"value": {"messages": 1}}]}]}']
    for body in bodies:
        status, reply = await gw.post_whatsapp(body)
        assert status in (200, 400), (status, body[:200], reply[:300])
        assert b"Traceback" not in reply


async def test_whatsapp_unverified_requests_write_nothing(gw: Harness) -> None:
    payload = fake_whatsapp.webhook_payload(messages=[fake_whatsapp.text_message("155501", "hi")])
    body = json.dumps(payload).encode()
    signatures = [*drawn(header_text(80), 40), "", "sha256=", "sha1=" + "0" * 40]
    for signature in signatures:
        status, _ = await gw.post_whatsapp(body, signature=signature or "")
        assert status in (401, 403), (status, signature)
    assert await gw.inbox_rows() == 0


async def test_twilio_signed_arbitrary_forms_are_400_or_acknowledged(gw: Harness) -> None:
    for form in drawn(forms, 80):
        status, reply, _ = await gw.post_twilio(form)
        assert status in (200, 400), (status, form, reply[:300])
    for form in drawn(forms, 30):
        status, reply, _ = await gw.post_twilio(form, status=True)
        assert status in (200, 400), (status, form, reply[:300])


async def test_twilio_unverified_requests_write_nothing(gw: Harness) -> None:
    form = fake_twilio.inbound_form(body="hello")
    for body in [*drawn(st.binary(max_size=256), 30), b"\xff\xfe", b"%zz=%", b"a=" * 2000]:
        status, _, _ = await gw.post_twilio(form, body=body)  # signature of another body
        assert status in (400, 403), (status, body[:100])
    for signature in drawn(header_text(60, min_size=1), 30):
        status, _, _ = await gw.post_twilio(form, signature=signature)
        assert status in (401, 403), (status, signature)
    assert await gw.inbox_rows() == 0
