"""WhatsApp Cloud API adapter (Meta Graph API), for one business phone number.

Inbound: JSON webhooks signed with `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the
app secret), plus the `hub.challenge` subscription handshake. Outbound: `POST /{version}/
{phone_number_id}/messages` over one aiohttp session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, overload
from urllib.parse import quote

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout

from channels.base import ChannelAdapter, MediaSource, SignedProbe
from channels.capabilities import WHATSAPP, Capabilities
from channels.common import header, is_bsuid, make_event, parse_retry_after
from channels.whatsapp_version import API_VERSION
from gateway.messages import (
    AccountInfo,
    Attachment,
    InboundEvent,
    InboundRequest,
    OutboundMessage,
    SendError,
    SendResult,
    WebhookRejected,
    WebhookReply,
)
from gateway.netguard import guarded_connector

log = logging.getLogger(__name__)

API_DEFAULT = "https://graph.facebook.com"
SIGNATURE_HEADER = "X-Hub-Signature-256"
OBJECT_TYPE = "whatsapp_business_account"

HTTP_TIMEOUT = 15.0
CONNECT_TIMEOUT = 5.0
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_INTERACTIVE_BODY = 1024
MAX_FOOTER = 60
MAX_CHALLENGE = 1024

RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
OUTSIDE_WINDOW_CODE = 131047
BSUID_REFUSED_CODE = 131062
"""This message cannot go to a business-scoped user id (`recipient`): it needs the number."""
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
MEDIA_REFUSED_CODES = frozenset({100, 131009, 131051, 131052, 131053})
"""Refusals of an image message that say the image (its link) is unusable: invalid parameter,
unsupported message type, media download and media upload errors."""
RECORDED_TYPES = frozenset({"system", "request_welcome", "revoke"})
"""Message types that are not something the user said (a number change, a first chat opened,
a message the user deleted): recorded, never answered. Reactions and edits are recorded too
(`_read_reaction`, `_read_edit`); `unsupported`, `unknown` and types newer than this adapter are
answered as unreadable."""
ID_LIMIT = 128
"""An event id's longest form (`InboundEvent.event_id`)."""

_ItemReader = Callable[[dict[str, Any], str], list[InboundEvent]]
"""Reads one object of a webhook's lists (an entry, a change, a message) at its position."""


class WhatsAppAdapter(ChannelAdapter):
    """`text.body` is limited to 4096 characters."""

    channel: ClassVar[str] = "whatsapp"
    capabilities: ClassVar[Capabilities] = WHATSAPP
    required_secrets: ClassVar[tuple[str, ...]] = ("access_token", "app_secret", "verify_token")
    api_secrets: ClassVar[tuple[str, ...]] = ("access_token",)
    batches: ClassVar[bool] = True

    def __init__(self, account: AccountInfo) -> None:
        super().__init__(account)
        self._app_secret = account.secrets["app_secret"].encode()
        self._verify_token = account.secrets["verify_token"].encode()
        config = account.config
        self.phone_number_id = str(config.get("phone_number_id") or "")
        base = str(config.get("api_base_url") or API_DEFAULT).rstrip("/")
        version = str(config.get("api_version") or API_VERSION).strip("/")
        self._api_url = f"{base}/{version}"
        self._number_url = f"{self._api_url}/{self.phone_number_id}"
        self._session: ClientSession | None = None
        self.timeout = HTTP_TIMEOUT

    # --- inbound -----------------------------------------------------------------------------
    def handshake(self, request: InboundRequest) -> WebhookReply:
        mode = request.query.get("hub.mode")
        token = request.query.get("hub.verify_token")
        if (
            mode != "subscribe"
            or token is None
            or not hmac.compare_digest(_raw_bytes(token), self._verify_token)
        ):
            raise WebhookRejected(403, "bad_verify_token", "hub.mode or hub.verify_token is wrong")
        challenge = request.query.get("hub.challenge") or ""
        if not challenge or len(challenge) > MAX_CHALLENGE:
            raise WebhookRejected(
                400, "malformed_handshake", "hub.challenge is missing or too long"
            )
        return WebhookReply(200, _raw_bytes(challenge), "text/plain")

    def verify(self, request: InboundRequest) -> None:
        given = header(request.headers, SIGNATURE_HEADER)
        if given is None:
            raise WebhookRejected(401, "missing_signature", f"{SIGNATURE_HEADER} header is missing")
        digest = hmac.new(self._app_secret, request.body, hashlib.sha256).hexdigest()
        expected = f"sha256={digest}".encode()
        if not hmac.compare_digest(_raw_bytes(given.strip()).lower(), expected):
            raise WebhookRejected(403, "bad_signature", f"{SIGNATURE_HEADER} does not match")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        """Every item of the batch as an event. An item of the wrong shape (an entry, a change,
        a message, a status) is recorded as `unsupported` with the reason and never costs its
        siblings; only a body that is not a JSON object is refused (400)."""
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError) as exc:  # incl. JSON/Unicode errors, huge ints
            raise WebhookRejected(400, "malformed_json", f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise WebhookRejected(400, "malformed_payload", "body is not a JSON object")
        if data.get("object") != OBJECT_TYPE:
            return []
        return self._each(data, "entry", "payload", self._entry_events)

    def _each(
        self, parent: dict[str, Any], key: str, where: str, read: _ItemReader
    ) -> list[InboundEvent]:
        """`read` on each object of the list under `key` (absent = none); a list or an item
        `read` cannot read is recorded as unreadable, and the next item is read."""
        value, at = parent.get(key), f"{where}.{key}"
        if value is None:
            return []
        if not isinstance(value, list):
            return [self._unreadable(value, at, f"unexpected shape at {at}")]
        events: list[InboundEvent] = []
        for index, item in enumerate(value):
            position = f"{at}[{index}]"
            try:
                events += read(_dict(item, position), position)
            except WebhookRejected as exc:
                events.append(self._unreadable(item, position, exc.message, key))
        return events

    def _entry_events(self, entry: dict[str, Any], at: str) -> list[InboundEvent]:
        return self._each(entry, "changes", at, self._change_events)

    def _change_events(self, change: dict[str, Any], at: str) -> list[InboundEvent]:
        if change.get("field") != "messages":
            return []
        value = _dict(change.get("value"), f"{at}.value")
        metadata = _dict(value.get("metadata", {}), f"{at}.value.metadata")
        number_id = metadata.get("phone_number_id")
        if (
            self.phone_number_id
            and number_id is not None
            and str(number_id) != self.phone_number_id
        ):
            log.debug("whatsapp: skipping a change for another phone number id")
            return []
        names = _contact_names(value.get("contacts"))
        where = f"{at}.value"
        return (
            self._each(value, "messages", where, lambda m, _: [self._message_event(m, names)])
            + self._each(value, "statuses", where, lambda s, _: [self._status_event(s)])
            + self._each(value, "errors", where, self._change_error)
        )

    def _message_event(self, message: dict[str, Any], names: dict[str, str]) -> InboundEvent:
        sender = _sender(message)
        kind = _text(message, "type", "message", required=False) or "unknown"
        fields: dict[str, Any] = {
            "channel": self.channel,
            "account": self.account.account,
            "event_id": _text(message, "id", "message"),
            "sender": sender,
            "chat": sender,
            "message_id": message.get("id"),
            "display_name": names.get(sender),
            "timestamp": _timestamp(message.get("timestamp")),
            "raw": message,
            "kind": "message",
            "hints": {},
        }
        user_id = _usable_id(message.get("from_user_id"))
        if user_id:
            fields["hints"]["user_id"] = user_id
        context = message.get("context")
        if isinstance(context, dict) and isinstance(context.get("id"), str):
            fields["hints"]["context_id"] = context["id"]
        _read_body(kind, message, fields)
        group = message.get("group_id")
        if isinstance(group, str) and group and fields["kind"] != "unsupported":
            # Written in a group: this adapter answers only 1:1 chats, and an answer to the
            # sender's own number would take the group's talk private. Recorded.
            fields["kind"] = "unsupported"
            fields["hints"] |= {"type": f"group:{kind}", "group_id": _usable_id(group)}
        return make_event(**fields)

    def _status_event(self, status: dict[str, Any]) -> InboundEvent:
        message_id = _text(status, "id", "status")
        state = _text(status, "status", "status")
        errors = _items(status, "errors", "status")
        first_error = errors[0] if errors else {}
        return make_event(
            channel=self.channel,
            account=self.account.account,
            event_id=f"{message_id}:{state}",
            kind="status",
            chat=_text(status, "recipient_id", "status", required=False)
            or _text(status, "recipient_user_id", "status", required=False),
            timestamp=_timestamp(status.get("timestamp")),
            hints={
                "provider_message_id": message_id,
                "status": state,
                "error_code": _code(first_error.get("code")),
                "error_title": _text(first_error, "title", "error", required=False)
                or _text(first_error, "message", "error", required=False),
            },
            raw=status,
        )

    def _change_error(self, error: dict[str, Any], at: str) -> list[InboundEvent]:
        """An error Meta reports for the whole change (no message, no status): recorded."""
        return [self._unreadable(error, at, "the change reports an error", **_error_hints([error]))]

    def _unreadable(
        self, item: Any, at: str, reason: str, key: str | None = None, **hints: Any
    ) -> InboundEvent:
        """An item the gateway cannot read, recorded (never answered) with the reason. Its id is
        its own when usable (a status: `<id>:<status>`), else derived from its position and
        content, so a redelivery of the batch is stored once."""
        found = item if isinstance(item, dict) else {}
        event_id = _usable_id(found.get("id"))
        if event_id and key == "statuses":
            state = _usable_id(found.get("status"))
            event_id = _usable_id(f"{event_id}:{state}") if state else None
        sender = _usable_id(found.get("from") or found.get("from_user_id"))
        sender = sender if key == "messages" else None
        kind = found.get("type")
        return make_event(
            channel=self.channel,
            account=self.account.account,
            event_id=event_id or _derived_id(at, item),
            kind="unsupported",
            sender=sender,
            chat=sender,
            hints={
                **({"type": kind} if isinstance(kind, str) else {}),
                "reason": reason,
                "position": at,
                **hints,
            },
            raw=found if found is item else {"item": item},
        )

    # --- outbound ----------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> SendResult:
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            **_addressee(message.chat),
        }
        if message.reply_to:
            payload["context"] = {"message_id": message.reply_to}
        buttons = _buttons(message.options.get("buttons"))
        image = message.options.get("image_url")
        if buttons:
            payload |= {"type": "interactive", "interactive": _interactive(message, buttons)}
            answer = await self._request("POST", "/messages", payload)
        elif isinstance(image, str) and image:
            answer = await self._send_image(payload, image, message.text)
        else:
            answer = await self._request("POST", "/messages", payload | _text_message(message.text))
        return _send_result(answer, message.chat)

    async def _send_image(self, payload: dict[str, Any], url: str, caption: str) -> dict[str, Any]:
        """An image message by link (Meta fetches it); an image the API refuses for good goes
        as its link after the caption, as text."""
        image = {"link": url, **({"caption": caption} if caption.strip() else {})}
        try:
            return await self._request(
                "POST", "/messages", {**payload, "type": "image", "image": image}
            )
        except GraphError as exc:
            if not exc.permanent or exc.code not in MEDIA_REFUSED_CODES:
                raise
            log.warning("whatsapp: image refused (%s): sent as a link", exc.reason)
        text = f"{caption} ({url})" if caption.strip() else url
        return await self._request("POST", "/messages", payload | _text_message(text))

    async def mark_received(self, event: InboundEvent) -> None:
        payload = self._read_receipt(event)
        if payload is None:
            return
        try:
            await self._request("POST", "/messages", payload)
        except Exception as exc:  # best effort by contract
            log.debug("whatsapp: mark as read failed: %s", exc)

    async def send_typing(self, event: InboundEvent) -> None:
        """The read receipt again, with the typing indicator: shown until the reply or for
        25 s (the turn sends it again while the core still thinks)."""
        payload = self._read_receipt(event)
        if payload is not None:
            payload["typing_indicator"] = {"type": "text"}
            await self._request("POST", "/messages", payload)

    def _read_receipt(self, event: InboundEvent) -> dict[str, Any] | None:
        """Marks `event`'s message read; None when it is not a message of this API."""
        if event.kind not in ("message", "action") or event.channel != self.channel:
            return None
        return {"messaging_product": "whatsapp", "status": "read", "message_id": event.event_id}

    async def fetch_phone_number(self) -> dict[str, Any]:
        """The phone number resource (for `gateway verify`)."""
        return await self._request("GET", "", None)

    # --- accounts and operator checks --------------------------------------------------------
    async def link_instructions(self, code: str) -> str:
        return f"Send LINK {code} to the business number on WhatsApp"

    async def check_credentials(self) -> str:
        found = await self.fetch_phone_number()
        number = found.get("display_phone_number") or found.get("id") or "found"
        return f"WhatsApp number {number}"

    def signed_probe(self, path: str, public_url: str | None) -> SignedProbe:
        """An empty batch of changes, signed with the app secret."""
        body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
        digest = hmac.new(self._app_secret, body, hashlib.sha256).hexdigest()
        headers = {SIGNATURE_HEADER: f"sha256={digest}", "Content-Type": "application/json"}
        return SignedProbe(path, body, headers)

    async def media_source(self, attachment: Attachment) -> MediaSource:
        """`GET /{version}/{media-id}` (url, type, size, sha256), then the URL it gives, with
        the same bearer token (the URL expires after about five minutes: looked up per try)."""
        if not attachment.file_id:
            raise SendError("the attachment has no WhatsApp media id", permanent=True)
        found = await self._graph("GET", f"{self._api_url}/{quote(attachment.file_id, safe='')}")
        url = found.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise SendError("whatsapp media lookup answered no url")
        digest, mime_type = found.get("sha256"), found.get("mime_type")
        return MediaSource(
            url=url,
            headers=self._auth(),
            size=_code(found.get("file_size")),
            mime_type=mime_type if isinstance(mime_type, str) else attachment.mime_type,
            filename=attachment.filename,
            sha256=digest if isinstance(digest, str) else None,
        )

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.account.secrets['access_token']}"}

    async def _request(self, method: str, path: str, payload: Any) -> dict[str, Any]:
        """One call on the phone number's resources."""
        if not self.phone_number_id:
            raise SendError("whatsapp phone_number_id is not configured", permanent=True)
        return await self._graph(method, self._number_url + path, payload)

    async def _graph(self, method: str, url: str, payload: Any = None) -> dict[str, Any]:
        """One Graph API call; failures raised as classified `SendError`s."""
        try:
            async with self.session.request(
                method, url, json=payload, headers=self._auth()
            ) as response:
                body = await _json_body(response)
                if response.status >= 300:
                    raise classify_error(
                        response.status, body, header(response.headers, "Retry-After")
                    )
                return body
        except (ClientError, TimeoutError) as exc:
            raise SendError(f"whatsapp connection error: {type(exc).__name__}") from None

    @property
    def session(self) -> ClientSession:
        if self._session is None or self._session.closed:
            timeout = ClientTimeout(total=self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout))
            self._session = ClientSession(timeout=timeout, connector=guarded_connector())
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


# --- errors ----------------------------------------------------------------------------------
class GraphError(SendError):
    """A permanent Graph API refusal, with its error code (None when the body had none)."""

    def __init__(self, reason: str, *, code: int | None) -> None:
        super().__init__(reason, permanent=True)
        self.code = code


def classify_error(status: int, body: dict[str, Any], retry_after: str | None = None) -> SendError:
    """Graph API failure -> SendError (rate limit / permanent / transient)."""
    error = body.get("error")
    if not isinstance(error, dict):
        error = {}
    code = _code(error.get("code"))
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    label = f"whatsapp {code if code is not None else status}"
    if status == 429 or code in RATE_LIMIT_CODES:
        return SendError(f"{label}: rate limited", retry_after=parse_retry_after(retry_after))
    if code == OUTSIDE_WINDOW_CODE:
        return SendError(
            f"outside the 24-hour window ({OUTSIDE_WINDOW_CODE}): a template is required",
            permanent=True,
        )
    if code == BSUID_REFUSED_CODE:
        return GraphError(
            f"whatsapp {code}: this message cannot be sent to a business-scoped user id (a user "
            "known by username only): it needs the user's phone number",
            code=code,
        )
    if status >= 500 or code in TRANSIENT_CODES:
        return SendError(f"{label}: {message or 'server error'}")
    return GraphError(f"{label}: {message or f'HTTP {status}'}", code=code)


async def _json_body(response: ClientResponse) -> dict[str, Any]:
    try:
        body = json.loads(await response.read())
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


# --- outbound helpers ------------------------------------------------------------------------
def _addressee(chat: str) -> dict[str, str]:
    """Who a message goes to: a business-scoped user id (a user known by username only) as
    `recipient`, a phone number as `to` (never both: `to` would win)."""
    return {"recipient": chat} if is_bsuid(chat) else {"to": chat}


def _text_message(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _send_result(answer: dict[str, Any], chat: str) -> SendResult:
    sent = answer.get("messages")
    first = sent[0] if isinstance(sent, list) and sent else None
    message_id = first.get("id") if isinstance(first, dict) else None
    if not isinstance(message_id, str):
        # Accepted (2xx) but without an id: retrying would send it twice.
        log.warning("whatsapp: send accepted without a message id")
        message_id = None
    return SendResult(provider_message_id=message_id, chat=chat)


def _buttons(value: Any) -> list[dict[str, Any]]:
    """Valid reply buttons from `options["buttons"]`, at most 3, titles cut to 20 characters."""
    if not isinstance(value, list):
        return []
    buttons = []
    for item in value:
        if not isinstance(item, dict):
            continue
        button_id, title = item.get("id"), item.get("title")
        if not isinstance(button_id, str) or not button_id.strip() or not isinstance(title, str):
            continue
        reply = {"id": button_id.strip()[:MAX_BUTTON_ID], "title": _cut(title, MAX_BUTTON_TITLE)}
        buttons.append({"type": "reply", "reply": reply})
    return buttons[:MAX_BUTTONS]


def _interactive(message: OutboundMessage, buttons: list[dict[str, Any]]) -> dict[str, Any]:
    interactive: dict[str, Any] = {
        "type": "button",
        "body": {"text": _cut(message.text, MAX_INTERACTIVE_BODY)},
        "action": {"buttons": buttons},
    }
    footer = message.options.get("footer")
    if isinstance(footer, str) and footer:
        interactive["footer"] = {"text": _cut(footer, MAX_FOOTER)}
    return interactive


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- inbound helpers: every value is type-checked; a wrong shape makes its item unreadable ----
def _bad(where: str) -> WebhookRejected:
    return WebhookRejected(400, "malformed_payload", f"unexpected shape at {where}")


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(where)
    return value


def _items(parent: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    """A list of objects under `key` (absent = empty)."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _bad(f"{where}.{key}")
    return value


@overload
def _text(parent: dict[str, Any], key: str, where: str) -> str: ...
@overload
def _text(parent: dict[str, Any], key: str, where: str, *, required: bool) -> str | None: ...
def _text(parent: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = parent.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise _bad(f"{where}.{key}")
    return value


def _code(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 12:
        return int(value)
    return None


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    seconds = _code(value)
    if seconds is None:
        raise _bad("timestamp")
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise _bad("timestamp") from None


def _contact_names(contacts: Any) -> dict[str, str]:
    """Display names by WhatsApp id and by business-scoped user id (`user_id`); a contacts
    list of the wrong shape only loses names."""
    names: dict[str, str] = {}
    for contact in contacts if isinstance(contacts, list) else []:
        if not isinstance(contact, dict):
            continue
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        for key in ("wa_id", "user_id"):
            if isinstance(contact.get(key), str) and isinstance(name, str):
                names[contact[key]] = name
    return names


def _sender(message: dict[str, Any]) -> str:
    """Who wrote the message: their phone number (`from`) when Meta gives it, else their
    business-scoped user id (`from_user_id`: a user known by username only)."""
    number = _text(message, "from", "message", required=False)
    if number:
        return number
    user_id = message.get("from_user_id")
    if is_bsuid(user_id):
        return user_id
    raise _bad("message.from")


def _errors(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The error objects Meta attached to an item (ignored when not a list of objects)."""
    errors = item.get("errors")
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _error_hints(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The first error's code and title, for support."""
    first = errors[0] if errors else {}
    title = first.get("title") or first.get("message")
    hints = {"error_code": _code(first.get("code")), "error_title": title}
    return {k: v for k, v in hints.items() if v is not None and not isinstance(v, dict | list)}


def _usable_id(value: Any) -> str | None:
    """`value` when it can be an event id, chat or sender as it is, else None."""
    if not isinstance(value, str) or not 0 < len(value) <= ID_LIMIT:
        return None
    return value if "\x00" not in value and value.isprintable() else None


def _derived_id(at: str, item: Any) -> str:
    """A stable id for an item without a usable one: its position and its content."""
    try:
        content = json.dumps(item, sort_keys=True)
    except (ValueError, TypeError, RecursionError):
        content = ""
    digest = hashlib.sha256(f"{at}\n{content}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"unreadable:{digest[:40]}"


def _raw_bytes(text: str) -> bytes:
    """The bytes a header or query value arrived as (aiohttp keeps undecodable bytes as
    surrogates); never raises, whatever the string holds."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


Reader = Callable[[str, dict[str, Any], dict[str, Any]], None]


def _read_body(kind: str, message: dict[str, Any], fields: dict[str, Any]) -> None:
    """`fields` from the message's body, by its type (docs/decisions.md, "Real payloads"): a
    type that is not something the user said is recorded; `unsupported`, `unknown` and types
    newer than this adapter stay messages with nothing to read (answered as unreadable); a
    known type whose body Meta could not give (`errors` instead) is recorded."""
    errors = _errors(message)
    reader = _MESSAGE_READERS.get(kind)
    if kind in RECORDED_TYPES:
        _read_unsupported(kind, {}, fields)
    elif reader is None and kind != "contacts":
        fields["hints"] |= {"type": kind, **_error_hints(errors)}
    elif message.get(kind) is None and errors:
        _read_unsupported(kind, {}, fields)
        fields["hints"] |= {"reason": "the message carries errors", **_error_hints(errors)}
    elif kind == "contacts":  # the one type whose body is a list (of contact cards)
        fields["attachments"] = _contacts(message)
    elif reader is not None:
        reader(kind, _dict(message.get(kind, {}), kind), fields)


def _read_text(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["text"] = _text(body, "body", "text")


def _read_interactive(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    reply_type = _text(body, "type", "interactive")
    if reply_type == "nfm_reply":
        _read_flow_reply(body, fields)
        return
    if reply_type not in ("button_reply", "list_reply"):
        _read_unsupported(f"interactive:{reply_type}", body, fields)
        return
    reply = _dict(body.get(reply_type), reply_type)
    fields |= {
        "kind": "action",
        "action": _text(reply, "id", reply_type),
        "text": _text(reply, "title", reply_type, required=False),
    }


def _read_flow_reply(body: dict[str, Any], fields: dict[str, Any]) -> None:
    """A WhatsApp Flow the user completed: what they filled in (`response_json`, a JSON text)
    goes to the agent as the message's text; Meta's `body` is only "Sent"."""
    reply = _dict(body.get("nfm_reply"), "nfm_reply")
    answers = _text(reply, "response_json", "nfm_reply", required=False)
    name = _text(reply, "name", "nfm_reply", required=False) or "flow"
    fields["text"] = f"Form reply ({name}): {answers or '{}'}"
    fields["hints"]["type"] = "nfm_reply"


def _read_button(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    fields |= {
        "kind": "action",
        "action": _text(body, "payload", "button"),
        "text": _text(body, "text", "button", required=False),
    }


def _read_media(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    attachment = Attachment(
        kind="voice" if kind == "audio" and body.get("voice") is True else kind,
        file_id=_text(body, "id", kind),
        mime_type=_text(body, "mime_type", kind, required=False),
        filename=_text(body, "filename", kind, required=False),
    )
    fields |= {"attachments": [attachment], "text": _text(body, "caption", kind, required=False)}


def _read_location(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    place = Attachment(
        kind="location",
        latitude=_degrees(body, "latitude", 90),
        longitude=_degrees(body, "longitude", 180),
        name=_text(body, "name", kind, required=False) or None,
        address=_text(body, "address", kind, required=False) or None,
    )
    fields["attachments"] = [place]


def _degrees(body: dict[str, Any], key: str, limit: float) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"location.{key}")
    degrees = float(value)
    if not math.isfinite(degrees) or abs(degrees) > limit:
        raise _bad(f"location.{key}")
    return degrees


def _contacts(message: dict[str, Any]) -> list[Attachment]:
    cards = _items(message, "contacts", "message")
    if not cards:
        raise _bad("contacts")
    return [_contact(card) for card in cards]


def _contact(card: dict[str, Any]) -> Attachment:
    """One shared contact card: its formatted name and first phone number."""
    name = _dict(card.get("name", {}), "contacts.name")
    phones = _items(card, "phones", "contacts")
    first = phones[0] if phones else {}
    phone = _text(first, "phone", "contacts.phones", required=False) or _text(
        first, "wa_id", "contacts.phones", required=False
    )
    return Attachment(
        kind="contact",
        name=_text(name, "formatted_name", "contacts.name", required=False) or None,
        phone=phone or None,
    )


def _read_order(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    """A catalog cart, as text the agent can read: the catalog, one line per item, then the
    text the user wrote with it."""
    lines = [f"Order from catalog {_text(body, 'catalog_id', 'order')}:"]
    for item in _items(body, "product_items", "order"):
        quantity = _code(item.get("quantity"))
        if quantity is None:
            raise _bad("order.product_items.quantity")
        product = _text(item, "product_retailer_id", "order.product_items")
        price = _price(item.get("item_price"))
        currency = _text(item, "currency", "order.product_items", required=False) or ""
        at = f" at {price} {currency}".rstrip() if price else ""
        lines.append(f"- {quantity} x {product}{at}")
    note = (_text(body, "text", "order", required=False) or "").strip()
    fields["text"] = "\n".join(lines) + (f"\n\n{note}" if note else "")
    fields["hints"]["type"] = "order"


def _price(value: Any) -> str:
    """An item's price as Meta wrote it (a number, or a string of one); empty when absent."""
    if value is None:
        return ""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    raise _bad("order.product_items.item_price")


def _read_reaction(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["kind"] = "unsupported"
    fields["hints"] |= {
        "type": "reaction",
        "emoji": _text(body, "emoji", "reaction", required=False),
        "target_message_id": _text(body, "message_id", "reaction", required=False),
    }


def _read_edit(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    """The user edited a message they sent (Coexistence numbers): an edit, recorded like a
    Telegram `edited_message`; the message it changes is kept for support."""
    fields["kind"] = "edited"
    fields["hints"] |= {
        "type": "edit",
        "target_message_id": _text(body, "original_message_id", "edit", required=False),
    }


def _read_unsupported(kind: str, body: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["kind"] = "unsupported"
    fields["hints"]["type"] = kind


_MESSAGE_READERS: dict[str, Reader] = {
    "text": _read_text,
    "interactive": _read_interactive,
    "button": _read_button,
    "reaction": _read_reaction,
    "edit": _read_edit,
    "location": _read_location,
    "order": _read_order,
    **dict.fromkeys(MEDIA_TYPES, _read_media),
}
