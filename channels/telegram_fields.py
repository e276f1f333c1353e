"""The fields of a Bot API `Message` the gateway reads, built with python-telegram-bot's types.

`Message.de_json` builds all of a message's ~90 attributes, each through PTB's Python-level
`__setattr__`: ~65 us per text message, two thirds of parsing a webhook and the largest single cost
of ingest (docs/decisions.md). The gateway reads a dozen fields. `MessageFields.read` takes those
from the same JSON the same way `Message.de_json` does: nested objects (users, the chat, entities,
media) are PTB's own types, built by PTB; only the message's scalar fields are read here. The raw
update is stored whole beside the normalized event, so nothing else is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from telegram import (
    Animation,
    Audio,
    Chat,
    Contact,
    Document,
    Location,
    MessageEntity,
    PhotoSize,
    Sticker,
    TelegramObject,
    User,
    Venue,
    Video,
    VideoNote,
    Voice,
)

MEDIA_TYPES: dict[str, type[TelegramObject]] = {
    "animation": Animation,  # before `document`, which Telegram fills with the same file
    "document": Document,
    "audio": Audio,
    "video": Video,
    "voice": Voice,
    "video_note": VideoNote,
    "sticker": Sticker,
}
"""Single-file attachments, in the order they are reported."""
_NOT_TEXT = frozenset({"photo", "location", "venue", "contact", *MEDIA_TYPES})
"""Fields a text message never has: when none is present (`isdisjoint`, one pass in C over the
message's few keys) none is read, so a text message pays nothing for media."""

T = TypeVar("T", bound=TelegramObject)


@dataclass(frozen=True, slots=True)
class RepliedTo:
    """The message a message replies to: only who sent it is read."""

    from_user: User | None


@dataclass(frozen=True, slots=True)
class MessageFields:
    """What `telegram.Message` would hold for these attributes (same names, same types)."""

    message_id: Any
    date: datetime
    chat: Chat
    from_user: User | None
    text: Any
    caption: Any
    entities: tuple[MessageEntity, ...]
    caption_entities: tuple[MessageEntity, ...]
    reply_to_message: RepliedTo | None
    photo: tuple[PhotoSize, ...]
    media: dict[str, Any]
    location: Location | None
    venue: Venue | None
    contact: Contact | None

    @classmethod
    def read(cls, data: dict[str, Any]) -> MessageFields:
        """Raises KeyError, TypeError, ValueError (or what PTB raises) for a malformed message,
        as `Message.de_json` would for the same fields."""
        if not isinstance(data, dict):
            raise TypeError("a message must be an object")
        replied = data.get("reply_to_message")
        if replied is not None and not isinstance(replied, dict):
            raise TypeError("reply_to_message must be an object")
        if _NOT_TEXT.isdisjoint(data):
            photo: tuple[PhotoSize, ...] = ()
            media: dict[str, Any] = {}
            location = venue = contact = None
        else:
            photo = _list(PhotoSize, data.get("photo"))
            media = {
                name: kind.de_json(data[name])
                for name, kind in MEDIA_TYPES.items()
                if data.get(name) is not None
            }
            location = _optional(Location, data.get("location"))
            venue = _optional(Venue, data.get("venue"))
            contact = _optional(Contact, data.get("contact"))
        return cls(
            message_id=data["message_id"],
            date=datetime.fromtimestamp(data["date"], tz=UTC),
            chat=Chat.de_json(data["chat"]),
            from_user=_optional(User, data.get("from")),
            text=data.get("text"),
            caption=data.get("caption"),
            entities=_list(MessageEntity, data.get("entities")),
            caption_entities=_list(MessageEntity, data.get("caption_entities")),
            reply_to_message=(
                RepliedTo(_optional(User, replied.get("from"))) if replied is not None else None
            ),
            photo=photo,
            media=media,
            location=location,
            venue=venue,
            contact=contact,
        )


def _optional(kind: type[T], value: Any) -> T | None:
    return None if value is None else kind.de_json(value)


def _list(kind: type[T], value: Any) -> tuple[T, ...]:
    return () if value is None else kind.de_list(value)
