"""What each channel can do, declared once: the gateway asks these, never a channel's name.

A channel is what the user sees (Telegram, SMS, WhatsApp); a route is the adapter that carries it
(Twilio's `sms` account carries SMS and WhatsApp-over-Twilio). The declarations live here, not in
the adapter modules, so that asking "what can WhatsApp do?" never imports a provider library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from channels.textsplit import split_text
from gateway.logs import mask_phone

if TYPE_CHECKING:
    from gateway.messages import ReplyPart

Markup = Literal["plain", "html", "whatsapp"]


def utf16_units(text: str) -> int:
    """Telegram counts message length in UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Pacing:
    """A provider's send limits, as the outbox sender paces them (token buckets)."""

    per_account_per_second: float
    per_chat_per_second: float
    chat_burst: int
    """Messages a chat may get at once (a reply split in parts) before `per_chat_per_second`."""
    group_per_minute: float


@dataclass(frozen=True)
class Capabilities:
    """One channel's facts, as the turn, the sender and the operations need them."""

    name: str
    """How the channel is called in texts shown to people (`Telegram`, `SMS`, `WhatsApp`)."""
    max_text_units: int
    """Provider limit for one message, in the units `text_units` counts."""
    text_units: Callable[[str], int] = len
    """How the provider counts a message's length (long replies are split to fit)."""
    buttons: bool = False
    """Approval prompts carry buttons; else the user answers YES / NO in text."""
    action_answers: bool = False
    """A button press gets a short answer the presser sees (Telegram's callback answer); else
    the answer to a press is a message in the chat."""
    edits: bool = False
    """A sent message can be edited: a decided prompt is rewritten in place, its buttons gone."""
    typing: bool = False
    """A typing indicator can be shown while the core thinks (`ChannelAdapter.send_typing`)."""
    typing_every_seconds: float = 4.0
    """How often the indicator is sent again while the core still thinks: a little less than
    one indicator lasts (Telegram: 5 s; WhatsApp: 25 s or until the reply)."""
    markup: Markup = "plain"
    """The dialect the agent's Markdown answers are rendered in (`channels/render/`): `html`
    (Telegram's HTML parse mode), `whatsapp` (`*bold*`, `_italic_`, ...) or `plain`."""
    media_kinds: frozenset[str] = frozenset()
    """Attachment kinds the adapter normalizes inbound (`gateway.messages.AttachmentKind`)."""
    max_download_bytes: int | None = None
    """The largest file the provider lets a bot download (Telegram: 20 MB); None: no limit
    beyond the gateway's own (GATEWAY_MEDIA_MAX_ITEM_BYTES)."""
    sends_images: bool = False
    """An image can be sent by its https URL (the provider fetches it); else an image in an
    answer goes as its link in the text."""
    max_caption_units: int = 0
    """The longest caption an image may carry (in `text_units`); a longer one goes as text."""
    slash_commands: bool = False
    """Commands are `/name args` (Telegram); else typed words: `LINK <code>`, `UNLINK`, `YES`,
    `NO` are read from the text of a message."""
    carrier_keywords: bool = False
    """STOP / START / HELP are carrier keywords: the gateway keeps an opt-out list and never sends
    to a number that opted out."""
    service_window: timedelta | None = None
    """Free-form messages may only be sent this long after the user last wrote (WhatsApp: 24 h);
    None: any time."""
    groups: bool = False
    """Group chats exist: the bot answers only when addressed, replies quote the message, and
    prompts or proactive messages go to the person's private chat, never into the group."""
    private_chat_is_sender: bool = False
    """How a person is keyed for later sends: their sender id is their private chat (Telegram);
    else the address they wrote from, through the account that received it."""
    phone_addresses: bool = False
    """Senders and chats are phone numbers: masked to the last 4 digits in logs and bundles."""
    paid_parts: bool = False
    """Every message sent costs money (SMS): a reply is split into fewer parts
    (GATEWAY_SMS_MAX_REPLY_PARTS, else GATEWAY_MAX_REPLY_PARTS)."""
    pacing: Pacing | None = None
    """Sends on this route are paced to these limits (per account, per chat, per group chat;
    `GATEWAY_<ROUTE>_RATE_PER_BOT`-style settings override them); None: the provider queues or
    rate-limits with a retry-after, nothing to pace ahead."""

    def command(self, name: str, arg: str = "") -> str:
        """How a user types command `name` here: `/link CODE` or `LINK CODE`."""
        word = f"/{name.lower()}" if self.slash_commands else name.upper()
        return f"{word} {arg}" if arg else word

    def split(self, text: str, max_parts: int | None = None) -> list[str]:
        """`text` in parts that each fit one message and join back to exactly `text`; at most
        `max_parts` of them, the last ending with a visible truncation marker when cut."""
        return split_text(text, self.max_text_units, self.text_units, max_parts)

    def render(self, markdown: str, max_parts: int | None = None) -> list[ReplyPart]:
        """The agent's Markdown answer as the messages this channel shows: rendered in `markup`,
        each part within `max_text_units` (an image part within `max_caption_units`), images in
        their place where `sends_images`, at most `max_parts` text parts (`channels/render/`)."""
        from channels.render import render_reply

        return render_reply(markdown, self, max_parts)

    def allows_send_after(self, silence: timedelta | None) -> bool:
        """Whether a free-form message may go out when the user last wrote `silence` ago
        (None: never wrote)."""
        if self.service_window is None:
            return True
        return silence is not None and silence <= self.service_window


_FILES = frozenset({"image", "audio", "video", "document"})
"""What MMS carries (kinds from each item's MIME type)."""
_CHAT_KINDS = _FILES | {"sticker", "voice", "location", "contact"}
"""What a chat app sends: Telegram, WhatsApp Cloud API."""
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
"""Bots download files up to 20 MB (Bot API `getFile`)."""

TELEGRAM = Capabilities(
    name="Telegram",
    max_text_units=4096,
    text_units=utf16_units,
    buttons=True,
    action_answers=True,
    edits=True,
    typing=True,
    markup="html",
    media_kinds=_CHAT_KINDS,
    max_download_bytes=TELEGRAM_DOWNLOAD_LIMIT,
    sends_images=True,
    max_caption_units=1024,
    slash_commands=True,
    groups=True,
    private_chat_is_sender=True,
    # Kept under the Bot FAQ's ~30 msg/s per bot, ~1 msg/s per chat, 20 msg/min per group.
    pacing=Pacing(
        per_account_per_second=25.0, per_chat_per_second=1.0, chat_burst=3, group_per_minute=19.0
    ),
)
SMS = Capabilities(
    name="SMS",
    max_text_units=1600,  # the Messages API's body limit (Twilio segments the SMS itself)
    media_kinds=_FILES | {"voice"},  # MMS: a recorded voice memo is a voice note
    sends_images=True,  # MMS (or WhatsApp media), by URL
    max_caption_units=1600,  # the body goes with the media
    carrier_keywords=True,
    phone_addresses=True,
    paid_parts=True,
)
WHATSAPP_VIA_TWILIO = replace(
    SMS,
    name="WhatsApp",
    markup="whatsapp",
    # Stickers arrive as image/webp, contacts as vCard files; voice notes as audio/ogg.
    media_kinds=_FILES | {"voice", "location"},
    carrier_keywords=False,
    service_window=timedelta(hours=24),
    paid_parts=False,
)
WHATSAPP = Capabilities(
    name="WhatsApp",
    max_text_units=4096,
    buttons=True,
    typing=True,  # sent with the read receipt of the message being answered
    typing_every_seconds=20.0,
    markup="whatsapp",
    media_kinds=_CHAT_KINDS,
    sends_images=True,
    max_caption_units=1024,
    service_window=timedelta(hours=24),
    phone_addresses=True,
)

BY_CHANNEL: dict[str, Capabilities] = {"telegram": TELEGRAM, "sms": SMS, "whatsapp": WHATSAPP}
"""User-facing channel -> its capabilities (WhatsApp by its own API; over Twilio it differs only
in what the route can render: no buttons, a 1600-character body)."""


def capabilities(channel: str) -> Capabilities:
    """The capabilities of a user-facing channel; an unknown name is a programming error."""
    return BY_CHANNEL[channel]


def mask_address(channel: str, value: Any) -> Any:
    """Phone numbers (channels whose capabilities say `phone_addresses`: SMS, WhatsApp; with or
    without `whatsapp:` / `+`) keep their last 4 digits; other ids (Telegram's) are not phone
    numbers and stay joinable with the logs. An unknown channel name: not a phone number."""
    caps = BY_CHANNEL.get(channel)
    if not isinstance(value, str) or caps is None or not caps.phone_addresses:
        return value
    scheme, sep, _ = value.partition(":")  # an address scheme (Twilio's `whatsapp:`) stays
    prefix = scheme + sep if sep else ""
    return prefix + mask_phone(value.removeprefix(prefix))
