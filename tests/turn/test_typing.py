"""The typing indicator while the core thinks, on the WhatsApp Cloud API (with the read receipt of
the message being answered, repeated as the channel's capabilities say) and never for a fast
answer. Telegram's `sendChatAction` is covered in tests/web/test_webhooks.py."""

from __future__ import annotations

import pytest

from channels.capabilities import TELEGRAM, WHATSAPP
from gateway.dev import fake_whatsapp
from gateway.messages import EventKind, InboundEvent, SendError
from gateway.storage.db.models import InboxEvent
from tests.auxil.adapters import whatsapp_on_fake
from tests.auxil.harness import Harness, eventually

# Wall-clock windows: `make test` runs these alone, not beside the parallel workers.
pytestmark = pytest.mark.timing

WA_ID = "14155550177"


async def _answered(gw: Harness, text: str) -> str:
    """Post `text` from WA_ID, wait for the reply; the inbound message's id."""
    assert gw.whatsapp is not None
    message = fake_whatsapp.text_message(WA_ID, text)
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message])))[0] == 200
    await gw.whatsapp.wait_for_messages(1)
    await eventually(lambda: gw.count(InboxEvent, InboxEvent.status == "done"))
    return str(message["id"])


async def test_a_slow_answer_shows_typing_on_the_message_being_answered(gw: Harness) -> None:
    assert gw.whatsapp is not None
    message_id = await _answered(gw, "#slow=1.5 think hard")
    assert [mid for mid, _ in gw.whatsapp.typing] == [message_id]
    (reply,) = [call for call in gw.whatsapp.calls_to("messages") if call.status == 200]
    assert gw.whatsapp.typing[0][1] < reply.at  # shown while the core thought
    # The plain read receipt still came first, when the turn started.
    assert gw.whatsapp.reads[0] == message_id


async def test_a_fast_answer_sends_no_indicator(gw: Harness) -> None:
    assert gw.whatsapp is not None
    message_id = await _answered(gw, "hello")
    assert gw.whatsapp.typing == []
    assert gw.whatsapp.reads == [message_id]  # only the read receipt


async def test_a_long_wait_repeats_the_indicator_as_often_as_the_channel_needs(
    gw: Harness,
) -> None:
    """One WhatsApp indicator lasts 25 s: within 5.5 s it is sent once, where Telegram's 5 s
    action would have been sent twice."""
    assert gw.whatsapp is not None
    assert TELEGRAM.typing_every_seconds < 4.5 < WHATSAPP.typing_every_seconds < 25
    await _answered(gw, "#slow=5 a long think")
    assert len(gw.whatsapp.typing) == 1


async def test_a_slow_download_shows_typing_before_the_core_is_called(gw: Harness) -> None:
    """A voice note or a large photo takes a while to fetch (and transcribe): the indicator
    shows during that time too, not only while the core thinks."""
    assert gw.whatsapp is not None
    photo = gw.whatsapp.add_media(b"\xff\xd8\xff" + bytes(500), "image/jpeg")
    photo.delay = 1.5
    message = fake_whatsapp.media_message(WA_ID, "image", file=photo, caption="look")
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message])))[0] == 200
    await gw.whatsapp.wait_for_messages(1)
    assert [mid for mid, _ in gw.whatsapp.typing] == [message["id"]]
    (core_call,) = gw.core.requests
    assert gw.whatsapp.typing[0][1] < core_call["at"]


def _event(
    kind: EventKind = "message", event_id: str = "wamid.IN1", channel: str = "whatsapp"
) -> InboundEvent:
    return InboundEvent(
        channel=channel, account="default", event_id=event_id, kind=kind, chat=WA_ID
    )


async def test_the_adapter_sends_the_indicator_only_for_its_own_messages() -> None:
    async with whatsapp_on_fake() as (adapter, fake):
        await adapter.send_typing(_event())
        await adapter.send_typing(_event("action", event_id="wamid.IN2"))
        await adapter.send_typing(_event("status", event_id="wamid.OUT:delivered"))
        await adapter.send_typing(_event("resume", event_id="resume-1"))
        await adapter.send_typing(_event(channel="sms", event_id="SM1"))
        assert [mid for mid, _ in fake.typing] == ["wamid.IN1", "wamid.IN2"]
        assert fake.calls_to("read")[0].body == {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.IN1",
            "typing_indicator": {"type": "text"},
        }
        await fake.stop()
        with pytest.raises(SendError):  # the turn logs it and goes on (best effort)
            await adapter.send_typing(_event())
