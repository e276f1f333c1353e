"""Shared message types: the one vocabulary every package speaks.

Channels, the worker and later identity/approvals import only this module to exchange data; it has
no dependency on the database, the web layer or any provider library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

EventKind = Literal["message", "command", "action", "status", "edited", "unsupported", "resume"]
"""`resume`: internal, queued when the approvals a core turn waited for are all decided."""


AttachmentKind = Literal[
    "image", "sticker", "audio", "voice", "video", "document", "location", "contact"
]
"""What a user can send besides text. Media kinds (`MEDIA_KINDS`) are references the worker
downloads when it runs the turn; a location or a contact carries its data itself."""
MEDIA_KINDS = frozenset({"image", "sticker", "audio", "voice", "video", "document"})
_NOUNS = {
    "image": "photo",
    "photo": "photo",  # stored before media support
    "sticker": "sticker",
    "audio": "audio file",
    "voice": "voice message",
    "video": "video",
    "document": "file",
    "location": "location",
    "contact": "contact",
}


class Attachment(BaseModel):
    """One item of a message besides its text, as the provider referenced it: never the bytes
    (the webhook stores references; the worker fetches them, `gateway/turn/media.py`)."""

    kind: str
    """An `AttachmentKind`; events stored before media support may hold `photo` (an image)."""
    file_id: str | None = None
    """The provider's id for the file (Telegram `file_id`, WhatsApp media id)."""
    url: str | None = None
    """Where the provider serves the file (Twilio `MediaUrl{N}`)."""
    mime_type: str | None = None
    size: int | None = None
    """Bytes, when the provider says (checked against the caps before any download)."""
    filename: str | None = None
    # a location (or venue) / a contact
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    """A venue's or a location's name; a contact's full name."""
    address: str | None = None
    phone: str | None = None
    """A contact's phone number."""

    @property
    def noun(self) -> str:
        """How the item is called in what the user and the agent are told (`photo`,
        `voice message`, `file`)."""
        return _NOUNS.get(self.kind, "file")

    @property
    def is_media(self) -> bool:
        """Bytes to fetch (not a location or a contact)."""
        return self.kind in MEDIA_KINDS or self.kind == "photo"


class InboundEvent(BaseModel):
    """A provider event normalized to one shape (see docs/architecture.md)."""

    channel: str = Field(max_length=16)
    account: str = Field(max_length=64)
    event_id: str = Field(min_length=1, max_length=128)
    kind: EventKind
    sender: str | None = Field(None, max_length=128)
    chat: str | None = Field(None, max_length=128)
    text: str | None = None
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    action: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    display_name: str | None = None
    timestamp: datetime | None = None
    message_id: str | None = None
    is_group: bool = False
    hints: dict[str, Any] = Field(
        default_factory=dict,
        description="Provider facts the adapter needs again later (mentions, reply target, ...).",
    )
    raw: dict[str, Any] = Field(default_factory=dict)

    def storable_payload(self) -> dict[str, Any] | None:
        """The event as stored (JSON-ready), or None when some string cannot be stored as JSON
        text anywhere: NUL characters (PostgreSQL's JSONB refuses them) or lone surrogates (not
        encodable as UTF-8)."""
        try:
            payload = self.model_dump(mode="json")
        except UnicodeEncodeError:  # a lone surrogate that pydantic cannot serialize either
            return None
        return payload if _storable(payload) else None

    @property
    def forwardable(self) -> bool:
        return self.kind in ("message", "command", "action")

    @property
    def actionable(self) -> bool:
        """Whether the worker handles it: forwardable events and delivery statuses."""
        return self.forwardable or self.kind in ("status", "resume")

    @property
    def thread(self) -> str | None:
        """The thread of the chat the event was written in (a Telegram forum topic): a
        conversation of its own, and where the chat's replies go. None: the chat itself."""
        thread = self.hints.get("thread")
        return None if thread is None else str(thread)

    def reply_options(self) -> dict[str, Any]:
        """The outbox options of what the gateway says back to this event: in a group, a reply
        to it; in a thread, into that thread."""
        options: dict[str, Any] = {}
        if self.is_group:
            options["reply_to"] = self.message_id
        if self.thread is not None:
            options["thread"] = self.thread
        return options

    @property
    def route(self) -> str:
        """The account channel that received it and answers it: WhatsApp traffic that came
        through Twilio is channel `whatsapp` for the user but is answered by the `sms` account."""
        return str(self.hints.get("via") or self.channel)


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


@dataclass(frozen=True)
class InboundRequest:
    """What a webhook route hands an adapter: provider-neutral, no web framework types."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WebhookReply:
    """The provider's expected synchronous answer (Telegram: empty 200; Twilio: TwiML)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"


@dataclass(frozen=True)
class OutboundMessage:
    channel: str
    account: str
    chat: str
    text: str
    reply_to: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplyPart:
    """One message of a rendered reply, as the outbox stores and the adapter sends it.

    `text` is already in the channel's markup (`Capabilities.markup`): Telegram HTML, WhatsApp's
    own markup, or plain text. An image part (`image_url`) is sent as an image, `text` its
    caption (possibly empty)."""

    text: str
    markup: str = "plain"
    image_url: str | None = None

    def options(self) -> dict[str, Any]:
        """What the outbox row keeps besides the text (empty for plain text)."""
        options: dict[str, Any] = {}
        if self.markup != "plain":
            options["markup"] = self.markup
        if self.image_url:
            options["image_url"] = self.image_url
        return options


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str | None
    chat: str | None = None


class WebhookRejected(Exception):
    """The adapter refuses a webhook request; `status` is what the client is answered."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SendError(Exception):
    """A classified provider failure; the outbox decides what to do from the class."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        new_chat: str | None = None,
        opted_out: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.opted_out = opted_out
        self.permanent = permanent
        self.retry_after = retry_after
        self.new_chat = new_chat


@dataclass(frozen=True)
class AccountInfo:
    """Everything an adapter needs about its account, secrets already decrypted."""

    project: str
    channel: str
    account: str
    secrets: Mapping[str, str]
    config: Mapping[str, Any]
