"""Every kind of message besides text, normalized into `Attachment`s on every channel, from
real-shaped payloads (the fakes' builders). Parsing stays pure: references only, no download."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels.capabilities import SMS, TELEGRAM, WHATSAPP, WHATSAPP_VIA_TWILIO, Capabilities
from channels.common import attachment_kind
from channels.telegram import TelegramAdapter
from channels.twilio import TwilioAdapter
from channels.whatsapp import WhatsAppAdapter
from gateway.dev import fake_twilio, fake_whatsapp
from gateway.dev.fake_media import FakeFile
from gateway.dev.fake_telegram import media_field, photo_sizes
from gateway.messages import AccountInfo, Attachment, InboundEvent, InboundRequest, WebhookRejected
from tests.auxil import updates

WA_USER = "16505551234"


def account(channel: str, secrets: dict[str, str], **config: Any) -> AccountInfo:
    return AccountInfo("default", channel, "default", secrets, config)


TELEGRAM_BOT = TelegramAdapter(
    account("telegram", {"token": "123456789:" + "A" * 35, "webhook_secret": "s" * 16})
)
WHATSAPP_NUMBER = WhatsAppAdapter(
    account(
        "whatsapp",
        {"access_token": "t", "app_secret": fake_whatsapp.DEFAULT_APP_SECRET, "verify_token": "v"},
        phone_number_id=fake_whatsapp.DEFAULT_PHONE_NUMBER_ID,
    )
)
TWILIO_ACCOUNT = TwilioAdapter(
    account(
        "sms",
        {"auth_token": fake_twilio.DEFAULT_AUTH_TOKEN},
        account_sid=fake_twilio.DEFAULT_ACCOUNT_SID,
    )
)
HOOK = "https://gw.example.com/webhooks/twilio/default"


def telegram(update: dict[str, Any]) -> InboundEvent:
    body = json.dumps(update).encode()
    [event] = TELEGRAM_BOT.parse(InboundRequest("POST", "http://x/", {}, {}, body))
    return event


def whatsapp(message: dict[str, Any]) -> InboundEvent:
    body, headers = fake_whatsapp.signed_body(fake_whatsapp.webhook_payload(messages=[message]))
    [event] = WHATSAPP_NUMBER.parse(InboundRequest("POST", "http://x/", headers, {}, body))
    return event


def twilio(form: dict[str, str]) -> InboundEvent:
    request = InboundRequest("POST", HOOK, {}, {}, fake_twilio.encode_form(form))
    [event] = TWILIO_ACCOUNT.parse(request)
    return event


def received(event: InboundEvent, caps: Capabilities) -> list[Attachment]:
    """The event's attachments, each of a kind its channel declares."""
    assert all(a.kind in caps.media_kinds for a in event.attachments), event.attachments
    return event.attachments


def shape(attachment: Attachment) -> dict[str, Any]:
    return attachment.model_dump(exclude_none=True)


# --- Telegram ---------------------------------------------------------------------------------
FILE = FakeFile("BQACAgIAAxkBAAIB", b"x" * 3000, "application/pdf", "report.pdf")


def test_telegram_text_has_no_attachments() -> None:
    assert telegram(updates.message("hello")).attachments == []


def test_telegram_photo_is_its_largest_size_with_the_caption() -> None:
    photo = FakeFile("AgACAgIAAxkBAAIC", b"j" * 50_000, "image/jpeg")
    event = telegram(updates.media({"photo": photo_sizes(photo)}, caption="look at this"))
    assert event.kind == "message" and event.text == "look at this"
    assert [shape(a) for a in received(event, TELEGRAM)] == [
        {"kind": "image", "file_id": photo.id, "mime_type": "image/jpeg", "size": 50_000}
    ]


def test_telegram_photo_sizes_in_any_order() -> None:
    photo = FakeFile("AgACAgIAAxkBAAID", b"j" * 900, "image/jpeg")
    sizes = photo_sizes(photo)
    event = telegram(updates.media({"photo": [sizes[2], sizes[0], sizes[1]]}))
    assert [a.file_id for a in event.attachments] == [photo.id]


@pytest.mark.parametrize(
    ("field", "mime_type", "kind", "expected_mime"),
    [
        ("document", "application/pdf", "document", "application/pdf"),
        ("audio", "audio/mpeg", "audio", "audio/mpeg"),
        ("voice", "audio/ogg", "voice", "audio/ogg"),
        ("video", "video/mp4", "video", "video/mp4"),
        ("video_note", "video/mp4", "video", "video/mp4"),
    ],
)
def test_telegram_files(field: str, mime_type: str, kind: str, expected_mime: str) -> None:
    file = FakeFile("CQACAgIAAxkBAAIE", b"a" * 1234, mime_type, "song.mp3")
    event = telegram(updates.media({field: media_field(field, file)}, caption="hear"))
    [attachment] = received(event, TELEGRAM)
    assert (attachment.kind, attachment.file_id, attachment.mime_type, attachment.size) == (
        kind,
        file.id,
        expected_mime,
        1234,
    )
    assert attachment.filename == ("song.mp3" if field in ("document", "audio", "video") else None)
    assert event.text == "hear"


def test_telegram_document_keeps_its_name_type_and_size() -> None:
    event = telegram(updates.media({"document": media_field("document", FILE)}))
    assert [shape(a) for a in received(event, TELEGRAM)] == [
        {
            "kind": "document",
            "file_id": FILE.id,
            "mime_type": "application/pdf",
            "size": 3000,
            "filename": "report.pdf",
        }
    ]
    assert event.text is None


def test_telegram_animation_is_one_video_though_it_comes_with_its_document() -> None:
    gif = FakeFile("CgACAgIAAxkBAAIF", b"g" * 700, "video/mp4", "funny.gif.mp4")
    fields = {"animation": media_field("animation", gif), "document": media_field("document", gif)}
    event = telegram(updates.media(fields))
    assert [(a.kind, a.file_id, a.mime_type) for a in received(event, TELEGRAM)] == [
        ("video", gif.id, "video/mp4")
    ]


@pytest.mark.parametrize(
    ("animated", "video", "mime_type"),
    [
        (False, False, "image/webp"),
        (True, False, "application/x-tgsticker"),
        (False, True, "video/webm"),
    ],
)
def test_telegram_sticker_type_from_its_flags(animated: bool, video: bool, mime_type: str) -> None:
    sticker = FakeFile("CAACAgIAAxkBAAIG", b"s" * 99, "image/webp")
    field = media_field("sticker", sticker, is_animated=animated, is_video=video, emoji="😀")
    [attachment] = received(telegram(updates.media({"sticker": field})), TELEGRAM)
    assert (attachment.kind, attachment.mime_type, attachment.size) == ("sticker", mime_type, 99)


def test_telegram_location_venue_and_contact() -> None:
    place = {"latitude": 52.52, "longitude": 13.405}
    [location] = received(telegram(updates.media({"location": place})), TELEGRAM)
    assert shape(location) == {"kind": "location", "latitude": 52.52, "longitude": 13.405}
    venue = {"location": place, "title": "Brandenburger Tor", "address": "Pariser Platz"}
    event = telegram(updates.media({"location": place, "venue": venue}))
    assert [shape(a) for a in received(event, TELEGRAM)] == [  # one place, not two
        {
            "kind": "location",
            "latitude": 52.52,
            "longitude": 13.405,
            "name": "Brandenburger Tor",
            "address": "Pariser Platz",
        }
    ]
    card = {"phone_number": "+4915112345678", "first_name": "Ana", "last_name": "Lima"}
    [contact] = received(telegram(updates.media({"contact": card})), TELEGRAM)
    assert shape(contact) == {"kind": "contact", "name": "Ana Lima", "phone": "+4915112345678"}


def test_telegram_malformed_media_is_a_400() -> None:
    for fields in ({"venue": {"title": "x"}}, {"contact": "x"}, {"voice": {"file_id": "v"}}):
        with pytest.raises(WebhookRejected) as refused:
            telegram(updates.media(fields))
        assert refused.value.status == 400


# --- WhatsApp Cloud API ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "mime_type", "voice", "expected"),
    [
        ("image", "image/jpeg", None, "image"),
        ("sticker", "image/webp", None, "sticker"),
        ("audio", "audio/mpeg", False, "audio"),
        ("audio", "audio/ogg; codecs=opus", True, "voice"),
        ("video", "video/mp4", None, "video"),
    ],
)
def test_whatsapp_media(kind: str, mime_type: str, voice: bool | None, expected: str) -> None:
    file = FakeFile("1234567890123456", b"m" * 10, mime_type)
    message = fake_whatsapp.media_message(WA_USER, kind, file=file, voice=voice, caption="cap")
    event = whatsapp(message)
    assert (event.kind, event.text) == ("message", "cap")
    assert [shape(a) for a in received(event, WHATSAPP)] == [
        {"kind": expected, "file_id": file.id, "mime_type": mime_type}
    ]


def test_whatsapp_document_keeps_its_filename() -> None:
    message = fake_whatsapp.media_message(WA_USER, "document", file=FILE)
    [document] = received(whatsapp(message), WHATSAPP)
    assert (document.kind, document.filename, document.mime_type) == (
        "document",
        "report.pdf",
        "application/pdf",
    )


def test_whatsapp_location_is_a_message_without_text() -> None:
    pin = fake_whatsapp.location_message(WA_USER, 38.7223, -9.1393)
    event = whatsapp(pin)
    assert (event.kind, event.text) == ("message", None)
    assert [shape(a) for a in received(event, WHATSAPP)] == [
        {"kind": "location", "latitude": 38.7223, "longitude": -9.1393}
    ]
    place = fake_whatsapp.location_message(
        WA_USER, 38.7, -9.1, name="Time Out Market", address="Av. 24 de Julho"
    )
    [shared] = whatsapp(place).attachments
    assert (shared.name, shared.address) == ("Time Out Market", "Av. 24 de Julho")


def test_whatsapp_contacts_are_one_attachment_each() -> None:
    cards = fake_whatsapp.contacts_message(
        WA_USER, ("Ana Lima", "+351 912 345 678"), ("Bo Chen", "+1 415 555 0100")
    )
    event = whatsapp(cards)
    assert (event.kind, event.text) == ("message", None)
    assert [shape(a) for a in received(event, WHATSAPP)] == [
        {"kind": "contact", "name": "Ana Lima", "phone": "+351 912 345 678"},
        {"kind": "contact", "name": "Bo Chen", "phone": "+1 415 555 0100"},
    ]


@pytest.mark.parametrize(
    "broken",
    [
        {"latitude": "north", "longitude": 1.0},
        {"latitude": 91.0, "longitude": 1.0},
        {"longitude": 1.0},
        {"latitude": True, "longitude": 1.0},
    ],
)
def test_whatsapp_bad_location_is_recorded_unsupported(broken: dict[str, Any]) -> None:
    """One item of a batch: recorded with the reason, never refusing its siblings (issue 24)."""
    message = fake_whatsapp.location_message(WA_USER, 1.0, 1.0)
    message["location"] = broken
    event = whatsapp(message)
    assert (event.kind, event.event_id, event.attachments) == ("unsupported", message["id"], [])
    assert event.hints["reason"].startswith("unexpected shape at location.")


# --- Twilio: MMS and WhatsApp over Twilio ---------------------------------------------------
def test_mms_every_media_url_with_its_kind() -> None:
    media = [
        ("https://api.twilio.com/m/1", "image/jpeg"),
        ("https://api.twilio.com/m/2", "audio/amr"),
        ("https://api.twilio.com/m/3", "video/3gpp"),
        ("https://api.twilio.com/m/4", "text/vcard"),
    ]
    event = twilio(fake_twilio.inbound_form(body="", media=media))
    assert (event.channel, event.text) == ("sms", None)
    assert [(a.kind, a.url, a.mime_type) for a in received(event, SMS)] == [
        ("image", "https://api.twilio.com/m/1", "image/jpeg"),
        ("voice", "https://api.twilio.com/m/2", "audio/amr"),
        ("video", "https://api.twilio.com/m/3", "video/3gpp"),
        ("document", "https://api.twilio.com/m/4", "text/vcard"),
    ]


def test_whatsapp_over_twilio_voice_note_and_caption() -> None:
    media = [
        ("https://api.twilio.com/m/9", "audio/ogg"),
        ("https://api.twilio.com/m/8", "image/webp"),
    ]
    form = fake_twilio.inbound_form(from_="whatsapp:+14155550100", body="hi", media=media)
    event = twilio(form)
    assert (event.channel, event.text) == ("whatsapp", "hi")
    assert [a.kind for a in received(event, WHATSAPP_VIA_TWILIO)] == ["voice", "image"]
    sms = twilio(fake_twilio.inbound_form(body="", media=media[:1]))
    # Over MMS any audio is a recording the phone made (voice memos go as MMS audio).
    assert [a.kind for a in sms.attachments] == ["voice"]


def test_whatsapp_over_twilio_location() -> None:
    form = fake_twilio.inbound_form(
        from_="whatsapp:+14155550100",
        body="",
        location=(37.7749, -122.4194),
        address="1 Market St, San Francisco",
        label="Twilio HQ",
    )
    event = twilio(form)
    assert (event.kind, event.text) == ("message", None)
    assert [shape(a) for a in received(event, WHATSAPP_VIA_TWILIO)] == [
        {
            "kind": "location",
            "latitude": 37.7749,
            "longitude": -122.4194,
            "name": "Twilio HQ",
            "address": "1 Market St, San Francisco",
        }
    ]
    bare = fake_twilio.inbound_form(from_="whatsapp:+14155550100", body="", location=(1.5, 2.5))
    assert [shape(a) for a in twilio(bare).attachments] == [
        {"kind": "location", "latitude": 1.5, "longitude": 2.5}
    ]


@pytest.mark.parametrize("latitude", ["north", "nan", "91", "inf"])
def test_twilio_bad_coordinates_leave_the_location_out_not_the_message(latitude: str) -> None:
    """One odd item never costs the message (issue 24): the text still goes, the location is
    left out and the reason kept with the event."""
    form = fake_twilio.inbound_form(from_="whatsapp:+14155550100", body="here", location=(1, 2))
    form["Latitude"] = latitude
    event = twilio(form)
    assert (event.kind, event.text, event.attachments) == ("message", "here", [])
    assert event.hints["unreadable_items"] == [
        "the location's Latitude/Longitude is not a coordinate"
    ]


def test_twilio_num_media_that_is_not_a_number_reads_the_media_there_are() -> None:
    form = fake_twilio.inbound_form(
        from_="+14155550100", body="pics", media=[("https://api.twilio.com/m/1", "image/png")]
    )
    form["NumMedia"] = "many"
    event = twilio(form)
    assert [(a.kind, a.url) for a in event.attachments] == [("image", "https://api.twilio.com/m/1")]
    assert event.hints["unreadable_items"] == ["NumMedia is not a number"]


@pytest.mark.parametrize(
    ("mime_type", "kind"),
    [
        ("IMAGE/PNG", "image"),
        ("audio/ogg; codecs=opus", "audio"),
        ("application/ogg", "audio"),
        ("video/mp4", "video"),
        ("application/pdf", "document"),
        ("", "document"),
        (None, "document"),
    ],
)
def test_attachment_kind_from_the_mime_type(mime_type: str | None, kind: str) -> None:
    assert attachment_kind(mime_type) == kind
