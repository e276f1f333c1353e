"""A message as the core's `input`: its text, and its media as content parts.

A text-only message stays today's plain string and costs nothing more. A message with
attachments becomes one user message whose `content` lists (Responses API input parts):
`input_text` for the text or caption first, then each attachment in order: `input_image` (a
`data:` URL) for images and static stickers, `input_file` (`filename`, `file_data` as a `data:`
URL) for everything else, `input_text` for a location, a contact (a vCard file's cards too), a
voice note's transcript and a note about an item that could not be fetched (the user is told that
separately).
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from channels.capabilities import Capabilities
from gateway.messages import Attachment
from gateway.storage.media_store import MediaStore
from gateway.turn.context import TurnContext
from gateway.turn.kept_media import KeptMediaFetcher
from gateway.turn.media import FetchedMedia, MediaFailure, MediaFetcher, MediaResult
from gateway.turn.transcribe import Transcriber
from gateway.turn.vcard import VCARD_TYPES, read_cards

Part = dict[str, Any]
CoreInputValue = str | list[dict[str, Any]]

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
"""What models take as `input_image`; any other image (HEIC, TIFF) goes as a file."""
_IMAGE_KINDS = frozenset({"image", "photo", "sticker"})
_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
)
_EXTENSIONS = {
    "audio/ogg": ".ogg",
    "audio/opus": ".opus",
    "audio/amr": ".amr",
    "audio/mp4": ".m4a",
    "audio/aac": ".aac",
    "image/webp": ".webp",
    "video/3gpp": ".3gp",
    "application/x-tgsticker": ".tgs",
}
"""Extensions for types common in chats that Python's built-in table lacks."""
_TYPES = mimetypes.MimeTypes()  # the built-in table only: the same names on every host
MAX_CARDS = 10
"""Contact cards of one vCard file told to the core; a file of hundreds is an address book."""
VOICE_PREFIX = "[Voice message]"
UNTRANSCRIBED_NOTE = "[Voice message: not transcribed; the recording is attached.]"


@dataclass(frozen=True)
class CoreInput:
    """What a message gives the core, and what the user is told about its media."""

    value: CoreInputValue | None
    """The request's `input`; None: nothing is left to send (no text, every item failed)."""
    told: tuple[str, ...] = ()
    """One plain text per media item that could not be fetched (sent before the answer)."""
    error: str | None = None
    """Why items failed (no URLs, no credentials): the inbox row's error when nothing is sent."""


class CoreInputs:
    """Builds a message's core input: fetches its media and transcribes its voice notes.

    One per process (the fetcher holds the downloads' HTTP session). `store`: media retention
    is on (GATEWAY_MEDIA_RETENTION_HOURS > 0); None: nothing is written to the database."""

    def __init__(
        self, fetcher: MediaFetcher, transcriber: Transcriber, store: MediaStore | None = None
    ) -> None:
        self.fetcher, self.transcriber = fetcher, transcriber
        self.kept = KeptMediaFetcher(fetcher, store) if store is not None else None

    async def build(self, ctx: TurnContext) -> CoreInput:
        text = await ctx.prompt_text()
        attachments = ctx.event.attachments
        if not attachments:
            return CoreInput(text)  # the text path: no media handling at all
        media = MediaResult()
        if any(item.is_media for item in attachments):
            if self.kept is None:
                media = await self.fetcher.fetch(ctx.adapter, ctx.caps, attachments)
            else:
                media = await self.kept.fetch(ctx, attachments)
        transcripts: dict[int, str] = {}
        for item in media.fetched:
            if item.attachment.kind == "voice":
                transcript = await self.transcriber.transcribe(ctx, item)
                if transcript:
                    transcripts[id(item)] = transcript
        told = tuple(failure.told for failure in media.failures)
        error = "; ".join(f.reason for f in media.failures) or None
        content, usable = _content(text, attachments, media, transcripts)
        if not usable:
            return CoreInput(None, told, error)
        return CoreInput([{"role": "user", "content": content}], told, error)

    async def close(self) -> None:
        await self.fetcher.close()


def readable(text: str, attachments: Sequence[Attachment], caps: Capabilities) -> bool:
    """Whether the agent can be given anything of a message: text, or an attachment of a kind
    the channel receives."""
    return bool(text) or any(_kind(item) in caps.media_kinds for item in attachments)


def message_input(
    text: str,
    attachments: Sequence[Attachment],
    media: MediaResult,
    transcripts: Mapping[int, str] | None = None,
) -> list[Part]:
    """One user message: the text, then a part per attachment in the message's order.

    `transcripts`: voice notes' transcripts by `id()` of their `FetchedMedia`."""
    return [{"role": "user", "content": _content(text, attachments, media, transcripts)[0]}]


def _content(
    text: str,
    attachments: Sequence[Attachment],
    media: MediaResult,
    transcripts: Mapping[int, str] | None,
) -> tuple[list[Part], bool]:
    """The parts, and whether any is more than a note about an item that failed."""
    transcripts = transcripts or {}
    results: list[FetchedMedia | MediaFailure] = [*media.fetched, *media.failures]
    content: list[Part] = [_text(text)] if text else []
    usable = bool(text)
    for attachment in attachments:
        if not attachment.is_media:
            parts = _place_or_contact(attachment)
            usable = usable or bool(parts)
            content.extend(parts)
            continue
        found = _take(results, attachment)
        if isinstance(found, FetchedMedia):
            content.extend(_media_parts(found, transcripts.get(id(found))))
            usable = True
        elif isinstance(found, MediaFailure):
            content.append(_text(f"[The user sent a {attachment.noun} that could not be used.]"))
    return content, usable


def data_url(mime_type: str, data: bytes) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def _media_parts(item: FetchedMedia, transcript: str | None) -> list[Part]:
    kind = item.attachment.kind
    if kind == "voice" and transcript:
        return [_text(f"{VOICE_PREFIX} {transcript}")]
    mime = _mime(item)
    if mime in VCARD_TYPES and (cards := read_cards(item.data)):
        return [_text(_contact_line(card.name, card.phone)) for card in cards[:MAX_CARDS]]
    if kind in _IMAGE_KINDS and mime in IMAGE_TYPES:
        return [{"type": "input_image", "image_url": data_url(mime, item.data), "detail": "auto"}]
    file: Part = {
        "type": "input_file",
        "filename": item.filename or item.attachment.filename or _filename(kind, mime),
        "file_data": data_url(mime, item.data),
    }
    return [_text(UNTRANSCRIBED_NOTE), file] if kind == "voice" else [file]


def _place_or_contact(attachment: Attachment) -> list[Part]:
    if attachment.kind == "location":
        where = _coordinates(attachment)
        if where is None:
            return []
        about = ", ".join(v for v in (attachment.name, attachment.address) if v)
        return [_text(f"Location: {where}" + (f" ({about})" if about else ""))]
    if attachment.kind == "contact" and (attachment.name or attachment.phone):
        return [_text(_contact_line(attachment.name, attachment.phone))]
    return []


def _contact_line(name: str | None, phone: str | None) -> str:
    return "Contact: " + ", ".join(v for v in (name, phone) if v)


def _coordinates(attachment: Attachment) -> str | None:
    latitude, longitude = attachment.latitude, attachment.longitude
    if (latitude is None or longitude is None) and (attachment.url or "").startswith("geo:"):
        # Stored before attachments carried coordinates: `geo:<lat>,<lon>`.
        try:
            lat, _, lon = (attachment.url or "")[4:].partition(",")
            latitude, longitude = float(lat), float(lon.partition(";")[0])
        except ValueError:
            return None
    if latitude is None or longitude is None:
        return None
    return f"{_degrees(latitude)}, {_degrees(longitude)}"


def _degrees(value: float) -> str:
    """At least 4 decimals (`52.5200`), at most 6 (about 10 cm), no trailing noise."""
    text = f"{value:.6f}".rstrip("0")
    decimals = len(text.partition(".")[2])
    return text + "0" * (4 - decimals) if decimals < 4 else text


def _take(results: list[FetchedMedia | MediaFailure], attachment: Attachment) -> Any:
    """The fetcher's result for `attachment` (removed from `results`), or None."""
    for same in (lambda a: a is attachment, lambda a: a == attachment):
        for index, result in enumerate(results):
            if same(result.attachment):
                return results.pop(index)
    return None


def _mime(item: FetchedMedia) -> str:
    """The item's base type (parameters such as `; codecs=opus` dropped), the attachment's
    when the download said nothing useful, sniffed for images."""
    declared = [_base_type(t) for t in (item.mime_type, item.attachment.mime_type)]
    mime = next((t for t in declared if t and t != "application/octet-stream"), "")
    if item.attachment.kind in _IMAGE_KINDS and mime not in IMAGE_TYPES:
        mime = _sniff_image(item.data) or mime
    return mime or "application/octet-stream"


def _base_type(value: str | None) -> str:
    return (value or "").partition(";")[0].strip().lower()


def _sniff_image(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _filename(kind: str, mime: str) -> str:
    extension = _EXTENSIONS.get(mime) or _TYPES.guess_extension(mime) or ""
    return f"{'image' if kind == 'photo' else kind}{extension}"


def _kind(attachment: Attachment) -> str:
    return "image" if attachment.kind == "photo" else attachment.kind


def _text(text: str) -> Part:
    return {"type": "input_text", "text": text}
