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

SERVICE_FIELDS = frozenset(
    {
        # What PTB 22.8's `filters.StatusUpdate.ALL` checks (Bot API 10.0's service messages) ...
        "boost_added",
        "channel_chat_created",
        "chat_background_set",
        "chat_owner_changed",
        "chat_owner_left",
        "chat_shared",
        "checklist_tasks_added",
        "checklist_tasks_done",
        "connected_website",
        "delete_chat_photo",
        "direct_message_price_changed",
        "forum_topic_closed",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_reopened",
        "general_forum_topic_hidden",
        "general_forum_topic_unhidden",
        "gift",
        "gift_upgrade_sent",
        "giveaway_completed",
        "giveaway_created",
        "group_chat_created",
        "left_chat_member",
        "managed_bot_created",
        "message_auto_delete_timer_changed",
        "migrate_from_chat_id",
        "migrate_to_chat_id",
        "new_chat_members",
        "new_chat_photo",
        "new_chat_title",
        "paid_message_price_changed",
        "pinned_message",
        "poll_option_added",
        "poll_option_deleted",
        "proximity_alert_triggered",
        "refunded_payment",
        "suggested_post_approval_failed",
        "suggested_post_approved",
        "suggested_post_declined",
        "suggested_post_paid",
        "suggested_post_refunded",
        "supergroup_chat_created",
        "unique_gift",
        "users_shared",
        "video_chat_ended",
        "video_chat_participants_invited",
        "video_chat_scheduled",
        "video_chat_started",
        "web_app_data",
        "write_access_allowed",
        # ... the results of a bot's own payment and Passport flows ...
        "passport_data",
        "successful_payment",
        # ... and service messages newer than PTB 22.8 (Bot API 10.2-10.3 communities).
        "community_chat_added",
        "community_chat_joined",
        "community_chat_removed",
    }
)
"""Fields that make a message a service message: a record of something that happened in the
chat, never words to the bot. A service message has no `text`, so a text message is told apart
by one key test and never looks further."""

T = TypeVar("T", bound=TelegramObject)


@dataclass(frozen=True, slots=True)
class RepliedTo:
    """The message a message replies to: who sent it, and whether it is the service message
    that opened a forum topic (every message in a topic that replies to nothing else "replies"
    to it: not a reply to its sender) or a channel post Telegram forwarded into its discussion
    group (a comment on the post; its `from` is Telegram's service account 777000, never the
    person or bot that wrote the post)."""

    from_user: User | None
    opens_topic: bool = False
    automatic_forward: bool = False


@dataclass(frozen=True, slots=True)
class MessageFields:
    """What `telegram.Message` would hold for these attributes (same names, same types)."""

    message_id: Any
    date: datetime
    chat: Chat
    from_user: User | None
    sender_chat: Chat | None
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
    message_thread_id: Any
    is_topic_message: Any
    is_automatic_forward: Any
    media_group_id: Any
    service: str | None
    """Not PTB's: the message's service field (`SERVICE_FIELDS`), or None for a message."""

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
            sender_chat=_optional(Chat, data.get("sender_chat")),
            text=data.get("text"),
            caption=data.get("caption"),
            entities=_list(MessageEntity, data.get("entities")),
            caption_entities=_list(MessageEntity, data.get("caption_entities")),
            reply_to_message=(
                RepliedTo(
                    _optional(User, replied.get("from")),
                    opens_topic="forum_topic_created" in replied,
                    automatic_forward=replied.get("is_automatic_forward") is True,
                )
                if replied is not None
                else None
            ),
            photo=photo,
            media=media,
            location=location,
            venue=venue,
            contact=contact,
            message_thread_id=data.get("message_thread_id"),
            is_topic_message=data.get("is_topic_message"),
            is_automatic_forward=data.get("is_automatic_forward"),
            media_group_id=data.get("media_group_id"),
            service=None if "text" in data else _service_field(data),
        )


def _optional(kind: type[T], value: Any) -> T | None:
    return None if value is None else kind.de_json(value)


def _list(kind: type[T], value: Any) -> tuple[T, ...]:
    return () if value is None else kind.de_list(value)


def _service_field(data: dict[str, Any]) -> str | None:
    return next((name for name in data if name in SERVICE_FIELDS), None)
