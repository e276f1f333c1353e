"""Telegram Bot API adapter (python-telegram-bot types and Bot calls)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from html import escape
from typing import Any, ClassVar

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    User,
    WebhookInfo,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBUserWarning

from channels import render
from channels.base import (
    ChannelAdapter,
    MediaSource,
    MediaTooLarge,
    PolledUpdate,
    SignedProbe,
    WebhookRegistration,
)
from channels.capabilities import TELEGRAM, Capabilities
from channels.ptb_aiohttp import AiohttpRequest
from channels.telegram_fields import MessageFields
from gateway.messages import (
    AccountInfo,
    Attachment,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    SendError,
    SendResult,
    WebhookRejected,
)

# RetryAfter.retry_after as a timedelta (PTB 23's behaviour) instead of a deprecated int.
os.environ.setdefault("PTB_TIMEDELTA", "1")
# `send` and `get_updates` call the Bot API through `Bot.do_api_request` on purpose (see there); PTB
# warns on every such call that a typed method exists.
warnings.filterwarnings(
    "ignore",
    message=r"Please use 'Bot\.(sendMessage|sendPhoto|getUpdates)'",
    category=PTBUserWarning,
)

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_SECRET_PURPOSE = "telegram-webhook-secret"
"""The purpose a webhook secret is derived from the bot token for (never change it: every derived
secret would change, and the gateway would refuse the updates Telegram signs with the old one)."""
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
API_DEFAULT = "https://api.telegram.org"
PHOTO_REFUSED = (
    "wrong file identifier",
    "failed to get http url content",
    "wrong type of the web page content",
    "image_process_failed",
    "photo_invalid_dimensions",
    "photo_save_file_invalid",
)
"""Telegram's answers (lowercased) to a photo URL it will never accept."""


class TelegramAdapter(ChannelAdapter):
    """Limits from the Bot API: 4096 characters per message (counted in UTF-16 code units here,
    which is never fewer than Telegram counts, so a part never bounces as too long)."""

    channel: ClassVar[str] = "telegram"
    capabilities: ClassVar[Capabilities] = TELEGRAM
    required_secrets: ClassVar[tuple[str, ...]] = ("token", "webhook_secret")
    api_secrets: ClassVar[tuple[str, ...]] = ("token",)

    def __init__(self, account: AccountInfo) -> None:
        super().__init__(account)
        self._secret = account.secrets["webhook_secret"].encode()
        self._bot: Bot | None = None
        self._requests: tuple[AiohttpRequest, ...] = ()
        self._identity_lock = asyncio.Lock()
        self._me: User | None = None

    @property
    def bot(self) -> Bot:
        """Built on first use: verifying webhooks needs only the secret, not an HTTP client."""
        if self._bot is None:
            base = str(self.account.config.get("api_base_url") or API_DEFAULT).rstrip("/")
            self._requests = (
                AiohttpRequest(
                    connection_pool_size=64, connect_timeout=5, read_timeout=15, write_timeout=10
                ),
                AiohttpRequest(connection_pool_size=1),
            )
            self._bot = Bot(
                self.account.secrets["token"],
                base_url=f"{base}/bot",
                base_file_url=f"{base}/file/bot",  # getFile's file_path: a URL under it
                request=self._requests[0],
                get_updates_request=self._requests[1],
            )
        return self._bot

    # --- inbound -----------------------------------------------------------------------------
    def verify(self, request: InboundRequest) -> None:
        given = request.headers.get(SECRET_HEADER)
        if given is None:
            raise WebhookRejected(401, "missing_signature", f"{SECRET_HEADER} header is missing")
        # aiohttp decodes undecodable header bytes as surrogates: compare the original bytes.
        if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._secret):
            raise WebhookRejected(403, "bad_signature", f"{SECRET_HEADER} does not match")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError) as exc:  # incl. JSON/Unicode errors, huge ints
            raise WebhookRejected(400, "malformed_json", f"body is not JSON: {exc}") from None
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or not 0 <= update_id < 2**63:
            raise WebhookRejected(400, "malformed_update", "an Update object with update_id")
        try:
            return [self._normalize(data)]
        except (
            KeyError,
            TypeError,
            ValueError,  # pydantic's ValidationError included
            AttributeError,
            OverflowError,
            OSError,
            RecursionError,
        ) as exc:
            raise WebhookRejected(400, "malformed_update", f"not a valid Update: {exc}") from None

    def _normalize(self, raw: dict[str, Any]) -> InboundEvent:
        base: dict[str, Any] = {
            "channel": self.channel,
            "account": self.account.account,
            "event_id": str(raw["update_id"]),
            "raw": raw,
        }
        if raw.get("callback_query") is not None:
            return self._button_press(CallbackQuery.de_json(raw["callback_query"], bot=None), base)
        key = next((k for k in ("message", "edited_message") if raw.get(k) is not None), None)
        if key is None:  # an update type the gateway does not use: never parsed, whatever its shape
            return _unsupported(base)
        # The hot path: a message, read without building PTB's whole Message (telegram_fields).
        message = MessageFields.read(raw[key])
        if message.chat.type == "channel" or message.from_user is None:
            return _unsupported(base)
        if message.service is not None or message.is_automatic_forward:
            return _recorded_only(base, key, message, message.from_user)
        event = InboundEvent(
            **base,
            kind="message" if key == "message" else "edited",
            sender=str(message.from_user.id),
            display_name=message.from_user.full_name,
            chat=str(message.chat.id),
            message_id=str(message.message_id),
            timestamp=message.date,
            is_group=message.chat.type in ("group", "supergroup"),
            text=message.text or message.caption,
            attachments=_attachments(message),
            hints=_addressing_hints(message),
        )
        topic = _topic(message)
        if topic is not None:
            event.hints["thread"] = topic
        if message.media_group_id is not None and event.attachments:
            # One part of an album: the worker gathers the parts into one message (`Album`).
            event.hints["album"] = str(message.media_group_id)
        if message.sender_chat is not None:
            # Written as a chat (a group's anonymous admin, someone posting as their channel):
            # `from` is a placeholder account every such writer shares.
            event.hints["shared_sender"] = True
        command = _command(message)
        if command and event.kind == "message":
            name, target, args = command
            event.kind = "command"
            event.command, event.args = name, args
            event.hints["command_target"] = target
        return event

    def _button_press(self, query: CallbackQuery, base: dict[str, Any]) -> InboundEvent:
        """A button press (`callback_query`, built with PTB's type)."""
        message = query.message
        return InboundEvent(
            **base,
            kind="action",
            action=query.data,
            sender=str(query.from_user.id),
            display_name=query.from_user.full_name,
            chat=str(message.chat.id) if message else str(query.from_user.id),
            message_id=str(message.message_id) if message else None,
            is_group=bool(message and message.chat.type in ("group", "supergroup")),
            hints={"callback_query_id": query.id},
        )

    async def identity(self) -> User:
        """The bot's own user (from getMe), fetched once: needed to know when a group addresses
        it. Never called while verifying a webhook."""
        if self._me is None:
            async with self._identity_lock:  # concurrent first sends: one getMe, not dozens
                if self._me is None:
                    await self._call(self.bot.initialize)
                    self._me = self.bot.bot
        return self._me

    async def is_addressed(self, event: InboundEvent) -> bool:
        if not event.is_group:
            return True
        me = await self.identity()
        username = (me.username or "").lower()
        if event.kind == "command":
            target = event.hints.get("command_target")
            return target is None or target.lower() == username
        if event.kind == "action":
            return True
        return (
            username in event.hints.get("mentions", [])
            or event.hints.get("reply_to_user_id") == me.id
        )

    async def prompt_text(self, event: InboundEvent) -> str:
        text = event.text or ""
        if event.is_group:
            me = await self.identity()
            if me.username:
                text = _strip_mention(text, me.username)
        return text.strip()

    def is_group_chat(self, chat: str) -> bool:
        return chat.startswith("-")

    # --- outbound ----------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> SendResult:
        chat_id = _chat_id(message.chat)
        edit = message.options.get("edit_message_id")
        if edit:
            # An approval prompt closed: new text, and no reply_markup, so the buttons go.
            await self._call(
                self.bot.edit_message_text,
                chat_id=chat_id,
                message_id=int(edit),
                text=message.text,
            )
            return SendResult(provider_message_id=str(edit), chat=message.chat)
        reply = (
            ReplyParameters(message_id=int(message.reply_to), allow_sending_without_reply=True)
            if message.reply_to
            else None
        )
        params = {
            "chat_id": chat_id,
            "message_thread_id": _thread_id(message.options.get("thread")),
            "reply_parameters": reply,
            "reply_markup": _keyboard(message.options.get("buttons")),
        }
        html = message.options.get("markup") == "html"
        image = message.options.get("image_url")
        if isinstance(image, str) and image:
            sent = await self._send_photo(params, image, message.text, html)
        else:
            sent = await self._send_formatted("sendMessage", params, "text", message.text, html)
        return _send_result(sent, message.chat)

    async def _send_photo(self, params: dict[str, Any], url: str, caption: str, html: bool) -> Any:
        """`sendPhoto` by URL (Telegram fetches it); a photo Telegram cannot use goes as its
        link after the caption, as text, so the answer still arrives whole."""
        try:
            return await self._send_formatted(
                "sendPhoto", {**params, "photo": url}, "caption", caption or None, html
            )
        except SendError as exc:
            if not exc.permanent or not any(s in exc.reason.lower() for s in PHOTO_REFUSED):
                raise
            log.warning("telegram: photo refused (%s): sent as a link", exc.reason)
        link = escape(url, quote=False) if html else url
        text = f"{caption} ({link})" if caption.strip() else link
        return await self._send_formatted("sendMessage", params, "text", text, html)

    async def _send_formatted(
        self, method: str, params: dict[str, Any], field: str, text: str | None, html: bool
    ) -> Any:
        """`method` with `text` as `field`, in HTML parse mode when `html`. Markup Telegram still
        refuses ("can't parse entities") is sent again as its plain text: nothing is lost."""
        if not html or not text:
            return await self._api(method, {**params, field: text})
        try:
            return await self._api(method, {**params, field: text, "parse_mode": "HTML"})
        except SendError as exc:
            if not exc.permanent or "can't parse entities" not in exc.reason.lower():
                raise
            log.warning("telegram: %s refused the HTML (%s): sent as plain", method, exc.reason)
        return await self._api(method, {**params, field: render.html_to_plain(text)})

    async def _api(self, method: str, api_kwargs: dict[str, Any]) -> Any:
        """A send through `Bot.do_api_request`: the typed `Bot.send_message` would build a
        `Message` from the answer (~90 us of CPU per send, ~5-10% of a turn in the benchmark's
        profile) of which only two fields are read; this keeps the answer as JSON."""
        return await self._call(self.bot.do_api_request, method, api_kwargs=api_kwargs)

    async def send_typing(self, event: InboundEvent) -> None:
        if event.chat:
            chat_id = _chat_id(event.chat)
            await self._call(
                self.bot.send_chat_action,
                chat_id=chat_id,
                action="typing",
                message_thread_id=_thread_id(event.hints.get("thread")),
            )

    async def acknowledge_action(self, event: InboundEvent, text: str | None = None) -> None:
        query_id = event.hints.get("callback_query_id")
        if query_id:
            await self._call(self.bot.answer_callback_query, query_id, text=text)

    async def media_source(self, attachment: Attachment) -> MediaSource:
        """`getFile`, then the file's URL under the account's Bot API base (it holds the token:
        never logged). A file over the bot download limit is refused before any call."""
        limit = self.capabilities.max_download_bytes
        if limit is not None and (attachment.size or 0) > limit:
            raise MediaTooLarge(f"Telegram bots download files up to {limit} bytes", limit=limit)
        if not attachment.file_id:
            raise SendError("the attachment has no Telegram file_id", permanent=True)
        try:
            found = await self._call(self.bot.get_file, attachment.file_id)
        except SendError as exc:
            if "file is too big" in exc.reason.lower():
                raise MediaTooLarge(exc.reason, limit=limit) from None
            raise self._without_token(exc) from None
        if not found.file_path:
            raise SendError("Telegram getFile answered no file_path", permanent=True)
        return MediaSource(
            url=found.file_path,
            headers={},
            size=found.file_size,
            mime_type=attachment.mime_type,
            filename=attachment.filename,
        )

    def _without_token(self, exc: SendError) -> SendError:
        """The same error with the bot token out of its reason (errors get printed and logged)."""
        token = self.account.secrets["token"]
        if token not in exc.reason:
            return exc
        reason = exc.reason.replace(token, "<token>")
        return SendError(reason, permanent=exc.permanent, retry_after=exc.retry_after)

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """One Bot API call with the provider's errors mapped to the gateway's classes."""
        try:
            if method != self.bot.initialize:
                await self.identity()
            return await method(*args, **kwargs)
        except RetryAfter as exc:
            after = exc.retry_after
            seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
            raise SendError(
                f"Telegram 429: retry after {seconds:g}s", retry_after=seconds
            ) from None
        except ChatMigrated as exc:
            raise SendError(
                "group was upgraded to a supergroup", new_chat=str(exc.new_chat_id)
            ) from None
        except BadRequest as exc:
            if "message is not modified" in exc.message:
                return None
            raise SendError(f"Telegram 400: {exc.message}", permanent=True) from None
        except Forbidden as exc:
            raise SendError(f"Telegram 403: {exc.message}", permanent=True) from None
        except InvalidToken:
            raise SendError("Telegram rejected the bot token", permanent=True) from None
        except TelegramError as exc:  # NetworkError, TimedOut, 5xx: worth another try
            raise SendError(f"Telegram error: {exc.message}") from None

    # --- webhook registration (operator commands) ----------------------------------------------
    async def set_webhook(
        self, url: str, *, drop_pending_updates: bool = False, max_connections: int = 40
    ) -> bool:
        return await self.bot.set_webhook(
            url=url,
            secret_token=self.account.secrets["webhook_secret"],
            allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=drop_pending_updates,
            max_connections=max_connections,
        )

    async def delete_webhook(self, *, drop_pending_updates: bool = False) -> bool:
        return await self.bot.delete_webhook(drop_pending_updates=drop_pending_updates)

    async def webhook_info(self) -> WebhookInfo:
        return await self.bot.get_webhook_info()

    # --- polling -------------------------------------------------------------------------------
    async def get_updates(self, offset: int | None, timeout: float) -> list[PolledUpdate]:
        """`getUpdates` with the webhook's allowed updates. Through `do_api_request`, so each
        update stays the JSON Telegram sent (the typed method rebuilds it from PTB's objects) and
        is parsed exactly as a webhook delivery is."""
        try:
            answer = await self._call(self._get_updates, offset, timeout)
        except SendError as exc:  # never a token in an error that gets printed or logged
            raise self._without_token(exc) from None
        polled = []
        for update in answer if isinstance(answer, list) else []:
            update_id = update.get("update_id") if isinstance(update, dict) else None
            if isinstance(update_id, int):
                polled.append(PolledUpdate(update_id, json.dumps(update).encode()))
        return polled

    async def _get_updates(self, offset: int | None, timeout: float) -> Any:
        try:
            return await self.bot.do_api_request(
                "getUpdates",
                api_kwargs={
                    "offset": offset,
                    "timeout": int(timeout),
                    "allowed_updates": list(ALLOWED_UPDATES),
                },
                read_timeout=timeout + 10,  # the poll's own wait, plus the usual read timeout
            )
        except Conflict as exc:  # a webhook is set, or another process polls this bot
            raise SendError(f"Telegram 409: {exc.message}", permanent=True) from None

    # --- accounts and operator checks --------------------------------------------------------
    @classmethod
    def account_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        return {"api_base_url": str(config.get("api_base_url") or API_DEFAULT).rstrip("/")}

    @classmethod
    def account_secrets(
        cls, secrets: dict[str, str], derive: Callable[[str, str], str]
    ) -> dict[str, str]:
        """The webhook secret, when not given, is derived from the token."""
        secrets.setdefault("webhook_secret", derive(WEBHOOK_SECRET_PURPOSE, secrets["token"]))
        return secrets

    async def link_instructions(self, code: str) -> str:
        """The deep link needs the bot's username (getMe, cached); without it, the command
        works too."""
        try:
            me = await self.identity()
            if me.username:
                return f"https://t.me/{me.username}?start={code}"
        except SendError as exc:
            log.warning("telegram: no deep link in the link instructions: %s", exc.reason)
        return f"Send /link {code} to the bot on Telegram"

    async def check_credentials(self) -> str:
        me = await self.identity()
        return f"getMe: @{me.username}"

    async def webhook_registration(self) -> WebhookRegistration:
        info = await self.webhook_info()
        facts = f"pending_update_count={info.pending_update_count}"
        if info.last_error_message:
            facts += f", last_error_message={info.last_error_message!r}"
        return WebhookRegistration(info.url, facts)

    def signed_probe(self, path: str, public_url: str | None) -> SignedProbe:
        """An update of a kind the gateway records but never answers."""
        update = {"update_id": int(time.time()), "gateway_verify": {"probe": True}}
        headers = {
            SECRET_HEADER: self.account.secrets["webhook_secret"],
            "Content-Type": "application/json",
        }
        return SignedProbe(path, json.dumps(update).encode(), headers)

    async def close(self) -> None:
        if self._bot is not None:
            await self._bot.shutdown()
            # A bot whose initialize() failed (bad token) is not shut down by PTB: close the
            # connection pools ourselves (shutting down twice is harmless).
            for request in self._requests:
                await request.shutdown()


def _send_result(answer: Any, chat: str) -> SendResult:
    """`message_id` and `chat.id` of a sendMessage answer (a Message object, as JSON)."""
    sent = answer if isinstance(answer, dict) else {}
    message_id = sent.get("message_id")
    sent_chat = sent.get("chat")
    chat_id = sent_chat.get("id") if isinstance(sent_chat, dict) else None
    return SendResult(
        provider_message_id=str(message_id) if message_id is not None else None,
        chat=str(chat_id) if chat_id is not None else chat,
    )


def _keyboard(buttons: Any) -> InlineKeyboardMarkup | None:
    """Buttons in one row; `callback_data` is limited to 64 bytes, so longer ids are dropped."""
    if not isinstance(buttons, list):
        return None
    row = [
        InlineKeyboardButton(str(b["title"]), callback_data=str(b["id"]))
        for b in buttons
        if isinstance(b, dict) and b.get("id") and len(str(b["id"]).encode()) <= 64
    ]
    return InlineKeyboardMarkup([row]) if row else None


def _unsupported(base: dict[str, Any]) -> InboundEvent:
    """Recorded, never acted on; `update_type` is the update's first field after its id."""
    kind = next((k for k in base["raw"] if k != "update_id"), "unknown")
    return InboundEvent(**base, kind="unsupported", hints={"update_type": kind})


def _recorded_only(
    base: dict[str, Any], key: str, message: MessageFields, sender: User
) -> InboundEvent:
    """A service message (a payment, a pin, a member joining) or a channel post Telegram
    forwarded into its discussion group by itself: kept with its chat and sender for support,
    never answered, whoever it mentions."""
    why = {"service": message.service} if message.service else {"automatic_forward": True}
    return InboundEvent(
        **base,
        kind="unsupported",
        sender=str(sender.id),
        chat=str(message.chat.id),
        message_id=str(message.message_id),
        timestamp=message.date,
        is_group=message.chat.type in ("group", "supergroup"),
        hints={"update_type": key, **why},
    )


def _topic(message: MessageFields) -> str | None:
    """The forum topic the message was sent in (its own conversation; replies go there). Only
    `is_topic_message` says so: a reply in a group without topics carries a
    `message_thread_id` too, and the General topic has none."""
    if message.is_topic_message is not True or message.message_thread_id is None:
        return None
    return str(message.message_thread_id)


def _thread_id(thread: Any) -> int | None:
    """An outbox row's `thread` as Telegram's `message_thread_id` (None: the chat itself)."""
    try:
        return int(thread) if thread is not None else None
    except (TypeError, ValueError):
        return None


def _command(message: MessageFields) -> tuple[str, str | None, list[str]] | None:
    entities = message.entities or ()
    if not message.text or not any(e.type == "bot_command" and e.offset == 0 for e in entities):
        return None
    head, _, rest = message.text.partition(" ")
    name, _, target = head[1:].partition("@")
    return name.lower(), target or None, rest.split()


def _addressing_hints(message: MessageFields) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities or ()
    mentions = [
        _entity_text(text, e.offset + 1, e.length - 1).lower()
        for e in entities
        if e.type == "mention"
    ]
    if mentions:
        hints["mentions"] = mentions
    replied = message.reply_to_message
    if (
        replied is not None
        and replied.from_user is not None
        and not replied.opens_topic
        and not replied.automatic_forward
    ):
        hints["reply_to_user_id"] = replied.from_user.id
    return hints


def _entity_text(text: str, offset: int, length: int) -> str:
    """Entity offsets and lengths count UTF-16 code units: an emoji before a mention is two."""
    if text.isascii():
        return text[offset : offset + length]
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le", "replace")


def _strip_mention(text: str, username: str) -> str:
    tag = f"@{username}"
    lowered = text.lower()
    at = lowered.find(tag.lower())
    while at != -1:
        text = text[:at] + text[at + len(tag) :]
        lowered = text.lower()
        at = lowered.find(tag.lower())
    return " ".join(text.split()) if "\n" not in text else text


_FILE_KINDS = {
    "document": "document",
    "audio": "audio",
    "voice": "voice",
    "video": "video",
    "video_note": "video",
    "animation": "video",  # a GIF, sent by Telegram as MPEG-4
    "sticker": "sticker",
}
"""`MessageFields.media` field -> the attachment kind."""


def _attachments(message: MessageFields) -> list[Attachment]:
    """Every media reference, place and contact of a message (a text message has none: its
    fields are all empty, nothing here is built)."""
    found: list[Attachment] = []
    if message.photo:  # several sizes of one photo: the largest is the photo
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        found.append(
            Attachment(
                kind="image",
                file_id=largest.file_id,
                mime_type="image/jpeg",  # Telegram re-encodes every photo as JPEG
                size=largest.file_size,
            )
        )
    seen: set[str] = set()
    for name, item in message.media.items():
        if item.file_unique_id in seen:  # an animation comes with its `document` too
            continue
        seen.add(item.file_unique_id)
        found.append(
            Attachment(
                kind=_FILE_KINDS[name],
                file_id=item.file_id,
                mime_type=_mime_type(name, item),
                size=item.file_size,
                filename=getattr(item, "file_name", None),
            )
        )
    place = message.venue.location if message.venue is not None else message.location
    if place is not None:  # a venue comes with its `location` too: one place
        venue = message.venue
        found.append(
            Attachment(
                kind="location",
                latitude=place.latitude,
                longitude=place.longitude,
                name=venue.title if venue is not None else None,
                address=venue.address if venue is not None else None,
            )
        )
    if message.contact is not None:
        contact = message.contact
        name = " ".join(filter(None, (contact.first_name, contact.last_name)))
        found.append(Attachment(kind="contact", name=name or None, phone=contact.phone_number))
    return found


def _mime_type(field: str, item: Any) -> str | None:
    """The file's type where Telegram says it, else what the field's files always are."""
    if field == "sticker":
        if item.is_animated:
            return "application/x-tgsticker"  # a gzipped Lottie animation
        return "video/webm" if item.is_video else "image/webp"
    if field == "video_note":
        return "video/mp4"
    return getattr(item, "mime_type", None)


def _chat_id(chat: str) -> int:
    """Telegram chats are integers; anything else (an identity linked by hand with a made-up id)
    can never be delivered: a permanent failure, not a crash of the sender."""
    try:
        return int(chat)
    except ValueError:
        raise SendError(f"not a Telegram chat id: {chat[:40]!r}", permanent=True) from None
