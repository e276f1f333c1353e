"""The replay corpus (issue 24): real provider payloads, each with the outcome the gateway owes
it, per item. The payloads are written after public sources (each fixture names its source in a
comment): the providers' documented examples and other libraries' test fixtures, in their
current shapes, with ids and numbers changed to the fakes' (the bot, the WhatsApp number, the
Twilio account) so they can be replayed against the running gateway."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """What became of one stored item, read from the database once it is settled."""

    FORWARDED = "forwarded"
    """The agent got it (a core turn) and the user its answer."""
    ANSWERED = "answered"
    """The gateway answered itself (a greeting, a reason it cannot read it), no core call."""
    RECORDED = "recorded"
    """Stored, never answered, no core call (service messages, reactions, updates not used)."""
    STATUS = "status"
    """A delivery status of something the gateway sent."""


@dataclass(frozen=True)
class Fixture:
    name: str
    body: dict[str, Any]
    """A Telegram update, a WhatsApp webhook payload, a Twilio form (field -> value)."""
    expect: tuple[Outcome, ...]
    """One outcome per item stored, in the order of the payload (a WhatsApp batch holds many;
    a Telegram update or a Twilio form one)."""
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    """Files the payload names (file id / media id / media id at the end of a Twilio
    `MediaUrl{N}`) -> (bytes, MIME type): served by the fake provider when the worker fetches."""
    status_route: bool = False
    """Twilio: posted to the status callback route instead of the inbound one."""


JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 200
OGG = b"OggS" + b"transcript: hello from a voice note"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"v" * 500
PDF = b"%PDF-1.7\n" + b"d" * 500
WEBP = b"RIFF\x1c\x00\x00\x00WEBPVP8 " + b"w" * 16
MP3 = b"ID3\x04" + b"a" * 300
