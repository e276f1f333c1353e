"""Media reaches the agent, end to end on every channel: the provider's webhook payload -> the
worker fetches the file from the fake provider (with its authentication) -> the mock core gets
one user message of content parts -> its echo says what it received -> the user gets it.

Failures: an item too large or not fetchable is told to the user and the rest of the message
still goes through; a message with nothing else left never reaches the core. A redelivered media
message is one turn and one download; a crash after the download still ends in one answer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.dev import fake_twilio, fake_whatsapp
from gateway.dev.fake_telegram import FakeTelegram, media_field, photo_sizes
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.mock_core import MockCore
from gateway.dev.mock_core_transcribe import voice_note
from gateway.storage.db.models import InboxEvent, Turn
from tests.auxil import updates
from tests.auxil.harness import (
    TWILIO_NUMBER,
    Harness,
    eventually,
)

JPEG = b"\xff\xd8\xff\xe0" + bytes(i % 251 for i in range(12_341))  # 12,345 bytes
PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 92  # 100 bytes
WEBP = b"RIFF\x1c\x00\x00\x00WEBPVP8 " + b"w" * 16  # 32 bytes
PDF = b"%PDF-1.7\n" + b"d" * 2_039  # 2,048 bytes
MP3 = b"ID3\x04" + b"a" * 996  # 1,000 bytes
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"v" * 1_488  # 1,500 bytes
VOICE = voice_note("call me at five")
PHONE = "+14155550100"
WA_ID = "14155550123"
NOT_TRANSCRIBED = "[Voice message: not transcribed; the recording is attached.]"


def _url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _text(text: str) -> dict[str, Any]:
    return {"type": "input_text", "text": text}


def _image(mime: str, data: bytes) -> dict[str, Any]:
    return {"type": "input_image", "image_url": _url(mime, data), "detail": "auto"}


def _file(name: str, mime: str, data: bytes) -> dict[str, Any]:
    return {"type": "input_file", "filename": name, "file_data": _url(mime, data)}


def _content(core: MockCore, index: int = -1) -> list[dict[str, Any]]:
    """The one user message's parts the core received."""
    [message] = core.requests[index]["body"]["input"]
    assert message["role"] == "user"
    return list(message["content"])


@dataclass(frozen=True)
class Case:
    """One kind of message: how to send it, what the core gets, what the user sees."""

    send: Callable[[Any], dict[str, Any]]
    """Builds the message from the fake (files registered on it)."""
    parts: list[dict[str, Any]]
    echo: str


# --- Telegram ---------------------------------------------------------------------------------


def _tg_file(kind: str, data: bytes, mime: str, name: str | None = None) -> Callable[..., Any]:
    def send(tg: FakeTelegram) -> dict[str, Any]:
        return {kind: media_field(kind, tg.add_file(data, mime, name))}

    return send


BERLIN = {"latitude": 52.52, "longitude": 13.405}
TELEGRAM: dict[str, Case] = {
    "photo": Case(
        lambda tg: {"photo": photo_sizes(tg.add_file(JPEG, "image/jpeg")), "caption": "what?"},
        [_text("what?"), _image("image/jpeg", JPEG)],
        "Echo: what? [image image/jpeg 12,345 bytes]",
    ),
    "document": Case(
        _tg_file("document", PDF, "application/pdf", "report.pdf"),
        [_file("report.pdf", "application/pdf", PDF)],
        "Echo: [file report.pdf application/pdf 2,048 bytes]",
    ),
    "voice": Case(
        _tg_file("voice", VOICE, "audio/ogg"),
        [_text("[Voice message] call me at five")],
        "Echo: [Voice message] call me at five",
    ),
    "audio": Case(
        _tg_file("audio", MP3, "audio/mpeg", "song.mp3"),
        [_file("song.mp3", "audio/mpeg", MP3)],
        "Echo: [file song.mp3 audio/mpeg 1,000 bytes]",
    ),
    "video": Case(
        lambda tg: {
            "video": media_field("video", tg.add_file(MP4, "video/mp4", "clip.mp4")),
            "caption": "watch",
        },
        [_text("watch"), _file("clip.mp4", "video/mp4", MP4)],
        "Echo: watch [file clip.mp4 video/mp4 1,500 bytes]",
    ),
    "video_note": Case(
        _tg_file("video_note", MP4, "video/mp4"),
        [_file("video.mp4", "video/mp4", MP4)],
        "Echo: [file video.mp4 video/mp4 1,500 bytes]",
    ),
    "sticker": Case(
        _tg_file("sticker", WEBP, "image/webp"),
        [_image("image/webp", WEBP)],
        "Echo: [image image/webp 32 bytes]",
    ),
    "location": Case(
        lambda tg: {"location": BERLIN},
        [_text("Location: 52.5200, 13.4050")],
        "Echo: Location: 52.5200, 13.4050",
    ),
    "venue": Case(
        lambda tg: {
            "location": BERLIN,
            "venue": {"location": BERLIN, "title": "Cafe Blau", "address": "Main St 1"},
        },
        [_text("Location: 52.5200, 13.4050 (Cafe Blau, Main St 1)")],
        "Echo: Location: 52.5200, 13.4050 (Cafe Blau, Main St 1)",
    ),
    "contact": Case(
        lambda tg: {
            "contact": {"phone_number": "+4915112345678", "first_name": "Ana", "last_name": "Silva"}
        },
        [_text("Contact: Ana Silva, +4915112345678")],
        "Echo: Contact: Ana Silva, +4915112345678",
    ),
}


@pytest.mark.parametrize("kind", sorted(TELEGRAM))
async def test_telegram_kind_reaches_the_agent(gw: Harness, kind: str) -> None:
    case = TELEGRAM[kind]
    await gw.post_update(updates.media(case.send(gw.telegram)))
    await gw.telegram.wait_for("sendMessage", 1)
    assert _content(gw.core) == case.parts
    assert gw.telegram.sent_texts() == [case.echo]
    files = list(gw.telegram.media.files.values())
    assert [f.downloads for f in files] == [1] * len(files)  # each file once; places: none
    assert len(gw.core.transcriptions.requests) == (1 if kind == "voice" else 0)


async def test_telegram_voice_without_transcription_goes_as_audio(gw: Harness) -> None:
    gw.core.transcriptions.settings.enabled = False  # a core without the endpoint: 404
    await gw.post_update(updates.media(_tg_file("voice", VOICE, "audio/ogg")(gw.telegram)))
    await gw.telegram.wait_for("sendMessage", 1)
    assert _content(gw.core) == [_text(NOT_TRANSCRIBED), _file("voice.ogg", "audio/ogg", VOICE)]
    assert gw.telegram.sent_texts() == [
        f"Echo: {NOT_TRANSCRIBED} [file voice.ogg audio/ogg {len(VOICE):,} bytes]"
    ]


# --- WhatsApp Cloud API -----------------------------------------------------------------------


def _wa_media(
    kind: str, data: bytes, mime: str, name: str | None = None, **extra: Any
) -> Callable[..., Any]:
    def send(wa: Any) -> dict[str, Any]:
        file = wa.add_media(data, mime, name)
        return fake_whatsapp.media_message(WA_ID, kind, file=file, **extra)

    return send


WHATSAPP: dict[str, Case] = {
    "image": Case(
        _wa_media("image", JPEG, "image/jpeg", caption="what?"),
        [_text("what?"), _image("image/jpeg", JPEG)],
        "Echo: what? [image image/jpeg 12,345 bytes]",
    ),
    "document": Case(
        _wa_media("document", PDF, "application/pdf", "report.pdf"),
        [_file("report.pdf", "application/pdf", PDF)],
        "Echo: [file report.pdf application/pdf 2,048 bytes]",
    ),
    "audio": Case(
        _wa_media("audio", MP3, "audio/mpeg", voice=False),
        [_file("audio.mp3", "audio/mpeg", MP3)],
        "Echo: [file audio.mp3 audio/mpeg 1,000 bytes]",
    ),
    "voice": Case(
        _wa_media("audio", VOICE, "audio/ogg; codecs=opus", voice=True),
        [_text("[Voice message] call me at five")],
        "Echo: [Voice message] call me at five",
    ),
    "video": Case(
        _wa_media("video", MP4, "video/mp4", caption="watch"),
        [_text("watch"), _file("video.mp4", "video/mp4", MP4)],
        "Echo: watch [file video.mp4 video/mp4 1,500 bytes]",
    ),
    "sticker": Case(
        _wa_media("sticker", WEBP, "image/webp"),
        [_image("image/webp", WEBP)],
        "Echo: [image image/webp 32 bytes]",
    ),
    "location": Case(
        lambda wa: fake_whatsapp.location_message(
            WA_ID, 52.52, 13.405, name="Cafe Blau", address="Main St 1"
        ),
        [_text("Location: 52.5200, 13.4050 (Cafe Blau, Main St 1)")],
        "Echo: Location: 52.5200, 13.4050 (Cafe Blau, Main St 1)",
    ),
    "contacts": Case(
        lambda wa: fake_whatsapp.contacts_message(WA_ID, ("Ana Silva", "+4915112345678")),
        [_text("Contact: Ana Silva, +4915112345678")],
        "Echo: Contact: Ana Silva, +4915112345678",
    ),
}


@pytest.mark.parametrize("kind", sorted(WHATSAPP))
async def test_whatsapp_cloud_kind_reaches_the_agent(gw: Harness, kind: str) -> None:
    assert gw.whatsapp is not None
    case = WHATSAPP[kind]
    message = case.send(gw.whatsapp)
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message])))[0] == 200
    await gw.whatsapp.wait_for_messages(1)
    assert _content(gw.core) == case.parts
    assert gw.whatsapp.sent_texts() == [case.echo]
    for file in gw.whatsapp.media.files.values():  # fetched once, with the bearer token
        assert file.downloads == 1
        assert file.authorizations == [f"Bearer {fake_whatsapp.DEFAULT_ACCESS_TOKEN}"]


# --- Twilio: MMS and WhatsApp -----------------------------------------------------------------


async def test_mms_with_one_image(gw: Harness) -> None:
    assert gw.twilio is not None
    file = gw.twilio.add_media(JPEG, "image/jpeg")
    form = fake_twilio.inbound_form(
        from_=PHONE,
        to=TWILIO_NUMBER,
        body="what?",
        media=[(gw.twilio.media_url(file), "image/jpeg")],
    )
    assert (await gw.post_twilio(form))[0] == 200
    await gw.twilio.wait_for_messages(1)
    assert _content(gw.core) == [_text("what?"), _image("image/jpeg", JPEG)]
    assert gw.twilio.sent_bodies() == ["Echo: what? [image image/jpeg 12,345 bytes]"]
    assert file.downloads == 1
    credentials = f"{fake_twilio.DEFAULT_ACCOUNT_SID}:{fake_twilio.DEFAULT_AUTH_TOKEN}"
    assert file.authorizations == [f"Basic {base64.b64encode(credentials.encode()).decode()}"]


async def test_mms_with_several_media_keeps_their_order(gw: Harness) -> None:
    assert gw.twilio is not None
    image = gw.twilio.add_media(PNG, "image/png")
    pdf = gw.twilio.add_media(PDF, "application/pdf")
    video = gw.twilio.add_media(MP4, "video/mp4")
    media = [
        (gw.twilio.media_url(pdf), "application/pdf"),
        (gw.twilio.media_url(image), "image/png"),
        (gw.twilio.media_url(video), "video/mp4"),
    ]
    form = fake_twilio.inbound_form(from_=PHONE, to=TWILIO_NUMBER, body="", media=media)
    assert (await gw.post_twilio(form))[0] == 200
    await gw.twilio.wait_for_messages(1)
    assert _content(gw.core) == [
        _file("document.pdf", "application/pdf", PDF),
        _image("image/png", PNG),
        _file("video.mp4", "video/mp4", MP4),
    ]
    assert gw.twilio.sent_bodies() == [
        "Echo: [file document.pdf application/pdf 2,048 bytes] [image image/png 100 bytes] "
        "[file video.mp4 video/mp4 1,500 bytes]"
    ]
    assert [f.downloads for f in (image, pdf, video)] == [1, 1, 1]


async def test_whatsapp_over_twilio_media_voice_and_location(gw: Harness) -> None:
    assert gw.twilio is not None
    photo = gw.twilio.add_media(JPEG, "image/jpeg")
    voice = gw.twilio.add_media(VOICE, "audio/ogg")
    media = [(gw.twilio.media_url(photo), "image/jpeg"), (gw.twilio.media_url(voice), "audio/ogg")]
    sender, number = f"whatsapp:+{WA_ID}", f"whatsapp:{TWILIO_NUMBER}"
    form = fake_twilio.inbound_form(from_=sender, to=number, body="look", media=media)
    assert (await gw.post_twilio(form))[0] == 200
    await gw.twilio.wait_for_messages(1)
    assert _content(gw.core) == [
        _text("look"),
        _image("image/jpeg", JPEG),
        _text("[Voice message] call me at five"),
    ]
    assert gw.twilio.sent_bodies(sender) == [
        "Echo: look\n[Voice message] call me at five [image image/jpeg 12,345 bytes]"
    ]

    place = fake_twilio.inbound_form(
        from_=sender,
        to=number,
        body="",
        location=(52.52, 13.405),
        address="Main St 1",
        label="Cafe Blau",
    )
    assert (await gw.post_twilio(place))[0] == 200
    await gw.twilio.wait_for_messages(2)
    assert _content(gw.core) == [_text("Location: 52.5200, 13.4050 (Cafe Blau, Main St 1)")]
    assert gw.twilio.sent_bodies(sender)[1].startswith(
        "Echo: Location: 52.5200, 13.4050 (Cafe Blau, Main St 1)"
    )


# --- what cannot be fetched -------------------------------------------------------------------


async def test_oversized_photo_is_told_and_the_caption_still_goes(gw: Harness) -> None:
    """Larger than Telegram lets a bot download: refused on its declared size, never fetched."""
    file = gw.telegram.add_file(JPEG, "image/jpeg")
    sizes = photo_sizes(file)
    sizes[-1]["file_size"] = 21 * 1024 * 1024
    await gw.post_update(updates.media({"photo": sizes}, caption="and this?"))
    await gw.telegram.wait_for("sendMessage", 2)
    told = "Your photo could not be used: it is larger than 20 MB."
    assert gw.telegram.sent_texts() == [
        told,
        "Echo: and this?\n[The user sent a photo that could not be used.]",
    ]
    assert _content(gw.core) == [
        _text("and this?"),
        _text("[The user sent a photo that could not be used.]"),
    ]
    assert file.downloads == 0 and gw.telegram.calls_to("getFile") == []


async def test_media_over_the_gateway_cap_is_cut_while_it_arrives(db_url: str) -> None:
    """No size declared (Twilio): the download stops at the per-item cap."""
    gw = Harness(db_url, FakeTelegram(), MockCore(), twilio=FakeTwilio())
    await gw.start(media_max_item_bytes=4096)
    try:
        assert gw.twilio is not None
        big, small = gw.twilio.add_media(JPEG, "image/jpeg"), gw.twilio.add_media(PNG, "image/png")
        media = [
            (gw.twilio.media_url(big), "image/jpeg"),
            (gw.twilio.media_url(small), "image/png"),
        ]
        form = fake_twilio.inbound_form(from_=PHONE, to=TWILIO_NUMBER, body="", media=media)
        assert (await gw.post_twilio(form))[0] == 200
        await gw.twilio.wait_for_messages(2)
        assert gw.twilio.sent_bodies() == [
            "Your photo could not be used: it is larger than 4 KB.",
            "Echo: [The user sent a photo that could not be used.] [image image/png 100 bytes]",
        ]
        assert _content(gw.core) == [
            _text("[The user sent a photo that could not be used.]"),
            _image("image/png", PNG),
        ]
    finally:
        await gw.stop()


async def test_unfetchable_media_is_told_and_the_text_still_goes(gw: Harness) -> None:
    assert gw.twilio is not None
    file = gw.twilio.add_media(JPEG, "image/jpeg")
    gw.twilio.media.fail_next(file, 404)
    form = fake_twilio.inbound_form(
        from_=PHONE,
        to=TWILIO_NUMBER,
        body="see photo",
        media=[(gw.twilio.media_url(file), "image/jpeg")],
    )
    assert (await gw.post_twilio(form))[0] == 200
    await gw.twilio.wait_for_messages(2)
    assert gw.twilio.sent_bodies() == [
        "Your photo could not be downloaded.",
        "Echo: see photo\n[The user sent a photo that could not be used.]",
    ]
    assert file.requests == 1 and file.downloads == 0  # a 404 is not retried


async def test_only_media_and_it_failed_never_calls_the_core(gw: Harness) -> None:
    assert gw.whatsapp is not None
    file = gw.whatsapp.add_media(JPEG, "image/jpeg")
    gw.whatsapp.media.fail_next(file, 404)
    message = fake_whatsapp.media_message(WA_ID, "image", file=file)
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message])))[0] == 200
    await gw.whatsapp.wait_for_messages(1)
    await eventually(lambda: gw.count(InboxEvent, InboxEvent.status == "done"))
    assert gw.whatsapp.sent_texts() == ["Your photo could not be downloaded."]
    assert gw.core.requests == []
    assert await gw.count(Turn) == 0


async def test_a_refused_sender_is_never_downloaded_for(db_url: str) -> None:
    """The identity gate comes first: no download for a sender the project does not forward."""
    gw = Harness(db_url, FakeTelegram(), MockCore())
    await gw.start(unlinked_policy="link_required")
    try:
        file = gw.telegram.add_file(JPEG, "image/jpeg")
        await gw.post_update(updates.media({"photo": photo_sizes(file)}, caption="hi"))
        await gw.telegram.wait_for("sendMessage", 1)
        assert gw.core.requests == []
        assert file.requests == 0 and gw.telegram.calls_to("getFile") == []
    finally:
        await gw.stop()


# --- redelivery and crashes -------------------------------------------------------------------


async def test_redelivered_media_message_is_one_turn_and_one_download(gw: Harness) -> None:
    file = gw.telegram.add_file(JPEG, "image/jpeg")
    update = updates.media({"photo": photo_sizes(file)}, caption="once")
    await gw.post_update(update)
    await gw.telegram.wait_for("sendMessage", 1)
    await gw.post_update(update)  # Telegram did not see our 200 and sends it again
    await eventually(lambda: gw.count(InboxEvent, InboxEvent.status == "done"))
    await asyncio.sleep(0.3)
    assert gw.telegram.sent_texts() == ["Echo: once [image image/jpeg 12,345 bytes]"]
    assert (len(gw.core.requests), await gw.count(Turn), await gw.inbox_rows()) == (1, 1, 1)
    assert (file.downloads, len(gw.telegram.calls_to("getFile"))) == (1, 1)
