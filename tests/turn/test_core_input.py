"""The core's `input` for a message (`gateway/turn/core_input.py`): the exact content parts for
each kind of attachment, and the text path that never touches media handling."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, cast

from channels.capabilities import Capabilities
from gateway.messages import Attachment, InboundEvent
from gateway.turn.context import TurnContext
from gateway.turn.core_input import CoreInputs, message_input, readable
from gateway.turn.media import FetchedMedia, MediaFailure, MediaFetcher, MediaResult
from gateway.turn.transcribe import Transcriber

JPEG = b"\xff\xd8\xff\xe0" + b"j" * 60
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"w" * 20
PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 10


TGS = b"\x1f\x8b\x08rest"
NOT_TRANSCRIBED = "[Voice message: not transcribed; the recording is attached.]"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _image(mime: str, data: bytes) -> dict[str, str]:
    return {
        "type": "input_image",
        "image_url": f"data:{mime};base64,{_b64(data)}",
        "detail": "auto",
    }


def _file(name: str, mime: str, data: bytes) -> dict[str, str]:
    return {"type": "input_file", "filename": name, "file_data": f"data:{mime};base64,{_b64(data)}"}


def _text(text: str) -> dict[str, str]:
    return {"type": "input_text", "text": text}


def _parts(text: str, *items: Attachment | FetchedMedia | MediaFailure, **kw: Any) -> list[Any]:
    attachments = [i if isinstance(i, Attachment) else i.attachment for i in items]
    media = MediaResult(
        fetched=[i for i in items if isinstance(i, FetchedMedia)],
        failures=[i for i in items if isinstance(i, MediaFailure)],
    )
    [message] = message_input(text, attachments, media, kw.get("transcripts"))
    assert message["role"] == "user"
    return cast(list[Any], message["content"])


def test_captioned_photo_is_text_then_image() -> None:
    photo = FetchedMedia(Attachment(kind="image", file_id="p1"), JPEG, "image/jpeg")
    assert _parts("what is this?", photo) == [_text("what is this?"), _image("image/jpeg", JPEG)]


def test_image_type_is_sniffed_when_the_provider_said_nothing() -> None:
    """Telegram's getFile names no type: a photo's bytes are a JPEG, a static sticker a WebP."""
    unknown = "application/octet-stream"
    photo = FetchedMedia(Attachment(kind="photo", file_id="p"), JPEG, unknown)
    sticker = FetchedMedia(Attachment(kind="sticker", file_id="s"), WEBP, unknown)
    assert _parts("", photo, sticker) == [_image("image/jpeg", JPEG), _image("image/webp", WEBP)]


def test_animated_sticker_and_unusual_images_go_as_files() -> None:
    tgs = FetchedMedia(Attachment(kind="sticker", file_id="a"), TGS, "application/x-tgsticker")
    heic = FetchedMedia(Attachment(kind="image", url="https://m/1"), b"..ftypheic", "image/heic")
    assert _parts("", tgs, heic) == [
        _file("sticker.tgs", "application/x-tgsticker", TGS),
        _file("image.heic", "image/heic", b"..ftypheic"),
    ]


def test_documents_keep_their_names_others_get_one_from_their_type() -> None:
    doc = FetchedMedia(
        Attachment(kind="document", file_id="d", filename="att.pdf"), b"%PDF-1.7", "application/pdf"
    )
    renamed = FetchedMedia(
        Attachment(kind="document", file_id="e"), b"%PDF", "application/pdf", filename="q3.pdf"
    )
    video = FetchedMedia(Attachment(kind="video", file_id="v"), b"vid", "video/mp4")
    audio = FetchedMedia(Attachment(kind="audio", file_id="a"), b"ID3", "audio/mpeg")
    assert _parts("", doc, renamed, video, audio) == [
        _file("att.pdf", "application/pdf", b"%PDF-1.7"),
        _file("q3.pdf", "application/pdf", b"%PDF"),
        _file("video.mp4", "video/mp4", b"vid"),
        _file("audio.mp3", "audio/mpeg", b"ID3"),
    ]


def test_voice_note_as_transcript_or_as_audio_with_a_note() -> None:
    voice = FetchedMedia(Attachment(kind="voice", file_id="v"), b"OggS", "audio/ogg; codecs=opus")
    assert _parts("", voice, transcripts={id(voice): "call me at five"}) == [
        _text("[Voice message] call me at five")
    ]
    assert _parts("", voice) == [_text(NOT_TRANSCRIBED), _file("voice.ogg", "audio/ogg", b"OggS")]


def test_location_venue_and_contact_are_text() -> None:
    here = Attachment(kind="location", latitude=52.52, longitude=13.405)
    venue = Attachment(
        kind="location", latitude=52.520008, longitude=-13.4, name="Cafe Blau", address="Main St 1"
    )
    legacy = Attachment(kind="location", url="geo:1.5,2.25")
    contact = Attachment(kind="contact", name="Ana Silva", phone="+351912345678")
    assert _parts("meet me", here, venue, legacy, contact) == [
        _text("meet me"),
        _text("Location: 52.5200, 13.4050"),
        _text("Location: 52.520008, -13.4000 (Cafe Blau, Main St 1)"),
        _text("Location: 1.5000, 2.2500"),
        _text("Contact: Ana Silva, +351912345678"),
    ]


def test_an_item_that_failed_is_a_note_in_its_place() -> None:
    first = Attachment(kind="image", url="https://m/1")
    second = Attachment(kind="image", url="https://m/2")
    failed = MediaFailure(first, "404", "Your photo could not be used.")
    fetched = FetchedMedia(second, PNG, "image/png")
    assert _parts("two photos", failed, fetched) == [
        _text("two photos"),
        _text("[The user sent a photo that could not be used.]"),
        _image("image/png", PNG),
    ]


def test_readable_needs_text_or_a_kind_the_channel_receives() -> None:
    caps = Capabilities(name="X", max_text_units=10, media_kinds=frozenset({"image", "location"}))
    assert readable("hi", [], caps)
    assert not readable("", [], caps)
    assert readable("", [Attachment(kind="photo", file_id="p")], caps)  # stored before media
    assert readable("", [Attachment(kind="location", latitude=1, longitude=2)], caps)
    assert not readable("", [Attachment(kind="voice", file_id="v")], caps)


# --- CoreInputs.build: what is fetched, and when ---------------------------------------------


class _Fetcher(MediaFetcher):
    def __init__(self, result: MediaResult | None = None) -> None:
        self.result, self.calls = result or MediaResult(), 0

    async def fetch(self, adapter: Any, caps: Any, attachments: list[Attachment]) -> MediaResult:
        self.calls += 1
        return self.result


class _Transcriber(Transcriber):
    def __init__(self, text: str | None) -> None:
        self.text, self.heard = text, 0

    async def transcribe(self, ctx: Any, audio: FetchedMedia) -> str | None:
        self.heard += 1
        return self.text


@dataclass
class _Ctx:
    event: InboundEvent
    adapter: Any = None
    caps: Any = None
    prompts: list[str] = field(default_factory=list)

    async def prompt_text(self) -> str:
        return (self.event.text or "").strip()


def _ctx(text: str | None, *attachments: Attachment) -> TurnContext:
    event = InboundEvent(
        channel="telegram", account="a", event_id="1", kind="message", chat="1", text=text
    )
    event.attachments = list(attachments)
    return cast(TurnContext, _Ctx(event))


async def test_a_text_message_is_the_plain_string_and_fetches_nothing() -> None:
    fetcher, transcriber = _Fetcher(), _Transcriber("x")
    built = await CoreInputs(fetcher, transcriber).build(_ctx("  hello "))
    assert (built.value, built.told, fetcher.calls, transcriber.heard) == ("hello", (), 0, 0)


async def test_places_and_contacts_need_no_download() -> None:
    fetcher = _Fetcher()
    built = await CoreInputs(fetcher, _Transcriber(None)).build(
        _ctx(None, Attachment(kind="contact", name="Bo", phone="+1555"))
    )
    assert fetcher.calls == 0
    assert built.value == [
        {"role": "user", "content": [{"type": "input_text", "text": "Contact: Bo, +1555"}]}
    ]


async def test_only_voice_notes_are_transcribed() -> None:
    voice = FetchedMedia(Attachment(kind="voice", file_id="v"), b"OggS", "audio/ogg")
    song = FetchedMedia(Attachment(kind="audio", file_id="s"), b"ID3", "audio/mpeg")
    transcriber = _Transcriber("hello there")
    inputs = CoreInputs(_Fetcher(MediaResult(fetched=[voice, song])), transcriber)
    built = await inputs.build(_ctx(None, voice.attachment, song.attachment))
    assert transcriber.heard == 1
    assert built.value is not None
    assert [p["type"] for p in built.value[0]["content"]] == ["input_text", "input_file"]


async def test_nothing_left_to_send_when_every_item_failed_and_there_is_no_text() -> None:
    photo = Attachment(kind="image", file_id="p")
    failure = MediaFailure(photo, "too large", "Your photo is too large to read.")
    inputs = CoreInputs(_Fetcher(MediaResult(failures=[failure])), _Transcriber(None))
    built = await inputs.build(_ctx(None, photo))
    assert (built.value, built.told, built.error) == (
        None,
        ("Your photo is too large to read.",),
        "too large",
    )
    with_text = await inputs.build(_ctx("and this", photo))
    assert with_text.told == ("Your photo is too large to read.",)
    assert with_text.value is not None and with_text.value[0]["content"][0] == {
        "type": "input_text",
        "text": "and this",
    }
