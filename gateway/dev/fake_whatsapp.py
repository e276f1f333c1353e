"""Fake WhatsApp Cloud API (Graph API) for tests and offline demos.

Serves ``POST /{version}/{phone_number_id}/messages`` (messages, read receipts, typing) and
``GET /{version}/{phone_number_id}``, and the media users sent (``GET /{version}/{media-id}``
and the URL it gives, `add_media`), with bearer authentication, records every call, and can
inject Graph-shaped failures (131047 outside the 24-hour window, 130429 throughput, 5xx). Module
helpers build real-shaped webhook payloads and sign them like Meta does.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.dev.fake_media import FakeFile, MediaFiles
from gateway.dev.server import MessageRecordingServer

__all__ = [
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_APP_SECRET",
    "DEFAULT_PHONE_NUMBER_ID",
    "FakeWhatsApp",
    "RecordedRequest",
    "addressee",
    "button_reply",
    "contact",
    "contacts_message",
    "list_reply",
    "location_message",
    "media_message",
    "new_wamid",
    "reaction_message",
    "sign",
    "signed_body",
    "status",
    "template_button",
    "text_message",
    "webhook_payload",
]

DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_NUMBER = "15550783881"
DEFAULT_ACCESS_TOKEN = "fake-whatsapp-access-token"
DEFAULT_APP_SECRET = "fake-whatsapp-app-secret"
DEFAULT_WABA_ID = "102290129340398"
MAX_TEXT = 4096
MAX_CAPTION = 1024
BSUID_REFUSED_CODE = 131062
BSUID_RE = re.compile(r"[A-Z]{2}(?:\.[A-Z]{2,8})?\.[0-9A-Za-z]{1,128}")
"""A business-scoped user id (`US.13491208655302741918`, a parent one `US.ENT.1181...`)."""


def new_wamid() -> str:
    return "wamid." + secrets.token_urlsafe(30)


@dataclass
class RecordedRequest:
    """One Graph API call as the server saw it; ``status`` is the HTTP status it was answered."""

    resource: str
    """``messages``, ``read``, ``phone_number`` or ``unknown``."""
    method: str
    path: str
    body: Any
    authorized: bool
    at: float
    status: int = 0


@dataclass
class _Failure:
    status: int
    code: int
    message: str
    error_subcode: int | None
    retry_after: float | None
    remaining: int


class _GraphError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        error_subcode: int | None = None,
        details: str | None = None,
        error_type: str = "OAuthException",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.error_subcode = error_subcode
        self.details = details
        self.error_type = error_type
        self.headers: dict[str, str] = {}

    def payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "fbtrace_id": secrets.token_urlsafe(16),
        }
        if self.error_subcode is not None:
            error["error_subcode"] = self.error_subcode
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        return {"error": error}


class FakeWhatsApp(MessageRecordingServer):
    """In-process Cloud API double; all state lives on the instance."""

    def __init__(
        self,
        *,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        display_phone_number: str = DEFAULT_DISPLAY_NUMBER,
    ) -> None:
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.display_phone_number = display_phone_number
        self.calls: list[RecordedRequest] = []
        self.messages: list[dict[str, Any]] = []
        """Accepted message requests (bodies plus the ``id`` answered), in arrival order."""
        self.reads: list[str] = []
        """Message ids marked as read, in arrival order."""
        self.typing: list[tuple[str, float]] = []
        """(message id, monotonic time) of every typing indicator (a read receipt carrying
        `typing_indicator`), in arrival order."""
        self.unusable_media: set[str] = set()
        """Image links the API refuses (400, 131053 media upload error)."""
        self.outside_window: set[str] = set()
        """Recipients whose 24-hour window is closed: free-form sends answer 400 / 131047."""
        self.bsuid_refused: set[str] = set()
        """Message types (``text``, ``image``, ``interactive``) the API refuses to send to a
        business-scoped user id (``recipient``): 400 / 131062."""
        self.media = MediaFiles(lambda n: str(1_000_000_000_000_000 + n))
        """Media users sent (`add_media`): ``GET /{version}/{media-id}`` and its download URL,
        both with the bearer token."""
        self.delay_seconds: float = 0.0
        self.flaky_probability: float = 0.0
        self._random = random.Random(0)
        self._failures: list[_Failure] = []
        """``http://host:port`` while serving."""

    # ----------------------------------------------------------------- test helpers

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 400,
        code: int = 131047,
        message: str = "Re-engagement message",
        error_subcode: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Make the next ``n`` message sends (not read receipts) fail like the Graph API."""
        self._failures.append(_Failure(status, code, message, error_subcode, retry_after, n))

    def sent_texts(self, to: str | None = None) -> list[str]:
        """Text bodies (or interactive body texts) accepted, in arrival order; with ``to``, only
        those to that addressee (a phone number, ``to``, or a business-scoped user id,
        ``recipient``: `addressee`)."""
        texts = []
        for message in self.messages:
            if to is not None and addressee(message) != to:
                continue
            if message.get("type") == "interactive":
                texts.append(message["interactive"]["body"]["text"])
            elif message.get("type") == "text":
                texts.append(message["text"]["body"])
        return texts

    def sent_images(self, to: str | None = None) -> list[tuple[str, str]]:
        """(link, caption) of the image messages accepted, in arrival order."""
        return [
            (message["image"].get("link", ""), message["image"].get("caption", ""))
            for message in self.messages
            if message.get("type") == "image" and (to is None or addressee(message) == to)
        ]

    def sent_to(self) -> list[tuple[str, str]]:
        """(addressee, how it was addressed: ``to`` or ``recipient``) of every message
        accepted, in arrival order."""
        return [
            (addressee(message), "to" if message.get("to") is not None else "recipient")
            for message in self.messages
        ]

    def add_media(
        self,
        data: bytes,
        mime_type: str = "image/jpeg",
        filename: str | None = None,
        file_id: str | None = None,
    ) -> FakeFile:
        """Media a user sent: its ``id`` is the media id for `media_message`; its counters say
        how often it was downloaded."""
        return self.media.add(data, mime_type, filename, file_id)

    # ----------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/whatsapp_business/attachments/", self._download_media)
        app.router.add_post("/{version}/{number}/messages", self._post_messages)
        app.router.add_get("/{version}/{number}", self._get_number)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # ----------------------------------------------------------------- dispatch

    async def _serve(
        self, request: web.Request, handler: Any, named: str | None = None
    ) -> web.Response:
        """Record, authenticate, decide synchronously (status is final once recorded), delay."""
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        resource = "unknown"
        if request.match_info.get("tail") is None:
            resource = "phone_number" if request.method == "GET" else "messages"
            if isinstance(body, dict) and body.get("status") == "read":
                resource = "read"
        call = RecordedRequest(
            resource=named or resource,
            method=request.method,
            path=request.path,
            body=body,
            authorized=self._authorized(request),
            at=time.monotonic(),
        )
        self.calls.append(call)
        headers: dict[str, str] = {}
        try:
            if not call.authorized:
                raise _GraphError(
                    401, 190, "Invalid OAuth access token - Cannot parse access token"
                )
            status, answer = handler(request, call)
        except _GraphError as exc:
            status, answer, headers = exc.status, exc.payload(), exc.headers
        call.status = status
        if self.delay_seconds > 0:
            await asyncio.sleep(self.delay_seconds)
        return web.json_response(answer, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            token.encode(), self.access_token.encode()
        )

    async def _not_found(self, request: web.Request) -> web.Response:
        return await self._serve(request, self._unknown_path)

    def _unknown_path(self, request: web.Request, call: RecordedRequest) -> tuple[int, Any]:
        raise _GraphError(400, 2500, "Unknown path components", error_type="OAuthException")

    def _number(self, request: web.Request) -> None:
        number = request.match_info["number"]
        if number != self.phone_number_id:
            raise _GraphError(
                400,
                100,
                f"Unsupported post request. Object with ID '{number}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
                error_subcode=33,
                error_type="GraphMethodException",
            )

    # ----------------------------------------------------------------- endpoints

    async def _get_number(self, request: web.Request) -> web.Response:
        if self.media.get(request.match_info["number"]) is not None:
            return await self._serve(request, self._media_lookup, "media")
        return await self._serve(request, self._phone_number)

    def _media_lookup(self, request: web.Request, call: RecordedRequest) -> tuple[int, Any]:
        """``GET /{version}/{media-id}``: where the media is (on this server, for an hour)."""
        file = self.media.files[request.match_info["number"]]
        return 200, {
            "messaging_product": "whatsapp",
            "url": f"{request.url.origin()}/whatsapp_business/attachments/?mid={file.id}"
            f"&ext={int(time.time()) + 300}&hash={secrets.token_urlsafe(8)}",
            "mime_type": file.mime_type,
            "sha256": file.sha256,
            "file_size": file.size,
            "id": file.id,
        }

    async def _download_media(self, request: web.Request) -> web.StreamResponse:
        """The lookup's URL: the bytes, with the same bearer token (else 401)."""
        file = self.media.get(request.query.get("mid", ""))
        authorized = self._authorized(request)
        call = RecordedRequest(
            "media_download", "GET", request.path, None, authorized, time.monotonic()
        )
        self.calls.append(call)
        if not authorized or file is None:
            call.status = 401 if not authorized else 404
            error = _GraphError(call.status, 190 if not authorized else 100, "Media not found")
            return web.json_response(error.payload(), status=call.status)
        call.status = 200
        return await self.media.serve(request, file)

    def _phone_number(self, request: web.Request, call: RecordedRequest) -> tuple[int, Any]:
        self._number(request)
        return 200, {
            "verified_name": "Fake Business",
            "code_verification_status": "VERIFIED",
            "display_phone_number": f"+{self.display_phone_number}",
            "quality_rating": "GREEN",
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
            "id": self.phone_number_id,
        }

    async def _post_messages(self, request: web.Request) -> web.Response:
        return await self._serve(request, self._messages)

    def _messages(self, request: web.Request, call: RecordedRequest) -> tuple[int, Any]:
        self._number(request)
        body = call.body
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            raise _GraphError(
                400, 100, "(#100) The parameter messaging_product is required.", details=""
            )
        if call.resource == "read":
            if not isinstance(body.get("message_id"), str) or not body["message_id"]:
                raise _GraphError(400, 131009, "(#131009) Parameter value is not valid")
            indicator = body.get("typing_indicator")
            if indicator is not None and indicator != {"type": "text"}:
                raise _GraphError(400, 100, "(#100) Invalid parameter", details="typing_indicator")
            self.reads.append(body["message_id"])
            if indicator is not None:
                self.typing.append((body["message_id"], call.at))
            return 200, {"success": True}
        self._raise_injected()
        to = _recipient(body)
        _check_content(body)
        if "to" not in body and body.get("type", "text") in self.bsuid_refused:
            raise _GraphError(
                400,
                BSUID_REFUSED_CODE,
                "(#131062) Business-scoped User ID recipients are not supported for this message",
            )
        if _get(body, "image", "link") in self.unusable_media:
            raise _GraphError(400, 131053, "(#131053) Media upload error", details="unusable")
        if to.lstrip("+") in self.outside_window:
            raise _GraphError(
                400,
                131047,
                "(#131047) Re-engagement message",
                details="Message failed to send because more than 24 hours have passed since "
                "the customer last replied to this number.",
            )
        message_id = new_wamid()
        self.messages.append({**body, "id": message_id})
        # The contact answered: `wa_id` for a phone number, `user_id` for a BSUID.
        who = {"user_id": to} if "to" not in body else {"wa_id": to.lstrip("+")}
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, **who}],
            "messages": [{"id": message_id}],
        }

    def _raise_injected(self) -> None:
        if self._failures:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.pop(0)
            error = _GraphError(
                failure.status,
                failure.code,
                f"(#{failure.code}) {failure.message}",
                error_subcode=failure.error_subcode,
                details=failure.message,
            )
            if failure.retry_after is not None:
                error.headers["Retry-After"] = f"{failure.retry_after:g}"
            raise error
        if self.flaky_probability and self._random.random() < self.flaky_probability:
            raise _GraphError(500, 131000, "(#131000) Something went wrong")


def addressee(message: dict[str, Any]) -> str:
    """Who an accepted message went to: its ``to`` (a phone number) when it has one (``to``
    wins, as on the Cloud API), else its ``recipient`` (a business-scoped user id)."""
    to = message.get("to")
    return str(to if to is not None else message.get("recipient", ""))


def _recipient(body: dict[str, Any]) -> str:
    """The addressee of a message request: ``to``, a phone number, or (without ``to``)
    ``recipient``, a business-scoped user id (BSUID) or parent BSUID."""
    to, recipient = body.get("to"), body.get("recipient")
    if to is not None:
        if not isinstance(to, str) or not to.lstrip("+").isdigit():
            raise _GraphError(400, 100, "(#100) Invalid parameter", details="to is invalid")
        return to
    if not isinstance(recipient, str) or not BSUID_RE.fullmatch(recipient):
        raise _GraphError(
            400, 100, "(#100) Invalid parameter", details="to or recipient is required"
        )
    return recipient


def _check_content(body: dict[str, Any]) -> None:
    """The Cloud API's own limits on text, image and reply-button messages."""
    kind = body.get("type", "text")
    if kind == "text":
        text = body.get("text")
        content = text.get("body") if isinstance(text, dict) else None
        if not isinstance(content, str) or not content:
            raise _GraphError(400, 100, "(#100) The parameter text['body'] is required.")
        if len(content) > MAX_TEXT:
            raise _GraphError(400, 100, "(#100) Param text['body'] must be at most 4096 characters")
        return
    if kind == "image":
        _check_image(body)
        return
    if kind != "interactive":
        raise _GraphError(400, 100, f"(#100) Unsupported message type {kind!r} in the fake")
    invalid = _GraphError(400, 131009, "(#131009) Parameter value is not valid")
    buttons = _get(body, "interactive", "action", "buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise invalid
    for button in buttons:
        title = _get(button, "reply", "title")
        if not isinstance(title, str) or not 1 <= len(title) <= 20:
            raise invalid
        if not _get(button, "reply", "id"):
            raise invalid
    text = _get(body, "interactive", "body", "text")
    if not isinstance(text, str) or not 1 <= len(text) <= 1024:
        raise invalid


def _check_image(body: dict[str, Any]) -> None:
    """An image by `link` (an http(s) URL, fetched by Meta later: never here) or media `id`;
    its caption at most 1024 characters."""
    link, media_id = _get(body, "image", "link"), _get(body, "image", "id")
    if not (isinstance(link, str) and link.startswith(("https://", "http://"))) and not media_id:
        raise _GraphError(400, 100, "(#100) Invalid parameter", details="image link or id")
    caption = _get(body, "image", "caption")
    if caption is not None and (not isinstance(caption, str) or len(caption) > MAX_CAPTION):
        raise _GraphError(400, 100, "(#100) Param image['caption'] must be at most 1024 characters")


def _get(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


# --------------------------------------------------------------------- webhook helpers


def sign(body: bytes, app_secret: str = DEFAULT_APP_SECRET) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed_body(
    payload: dict[str, Any], app_secret: str = DEFAULT_APP_SECRET
) -> tuple[bytes, dict[str, str]]:
    """(raw body, headers) for posting ``payload`` to the webhook as Meta would."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)}


def webhook_payload(
    *,
    messages: Iterable[dict[str, Any]] = (),
    statuses: Iterable[dict[str, Any]] = (),
    contacts: Iterable[dict[str, Any]] | None = None,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    display_phone_number: str = DEFAULT_DISPLAY_NUMBER,
) -> dict[str, Any]:
    """One webhook POST: a ``messages`` change carrying the given messages and statuses.

    Contacts default to one per distinct sender (profile name ``User <last 4 digits>``), a
    username-only one (``from_user_id``) by its business-scoped user id."""
    messages, statuses = list(messages), list(statuses)
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }
    if contacts is None:
        senders = dict.fromkeys(m.get("from") or m["from_user_id"] for m in messages)
        contacts = [contact(wa_id, f"User {wa_id[-4:]}") for wa_id in senders]
    contacts = list(contacts)
    if contacts:
        value["contacts"] = contacts
    if messages:
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": DEFAULT_WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }


def contact(wa_id: str, name: str) -> dict[str, Any]:
    """A contact by phone number (``wa_id``), or by business-scoped user id (``user_id``) when
    ``wa_id`` is one: a user known by username only."""
    return {"profile": {"name": name}, _user_key(wa_id, "wa_id", "user_id"): wa_id}


def _user_key(user: str, number_key: str, bsuid_key: str) -> str:
    """Where a payload names ``user``: ``bsuid_key`` for a business-scoped user id."""
    return bsuid_key if BSUID_RE.fullmatch(user) else number_key


def _message(
    from_: str, kind: str, content: dict[str, Any], message_id: str | None, timestamp: int | None
) -> dict[str, Any]:
    """A message from ``from_``: a phone number (``from``), or a business-scoped user id
    (``from_user_id`` and no ``from``: a user known by username only)."""
    return {
        _user_key(from_, "from", "from_user_id"): from_,
        "id": message_id or new_wamid(),
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": kind,
        kind: content,
    }


def text_message(
    from_: str, body: str, *, message_id: str | None = None, timestamp: int | None = None
) -> dict[str, Any]:
    return _message(from_, "text", {"body": body}, message_id, timestamp)


def _tap(message: dict[str, Any], context_id: str | None) -> dict[str, Any]:
    message["context"] = {"from": DEFAULT_DISPLAY_NUMBER, "id": context_id or new_wamid()}
    return message


def button_reply(
    from_: str,
    reply_id: str,
    title: str,
    *,
    context_id: str | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A reply-button tap (``interactive`` / ``button_reply``)."""
    content = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    return _tap(_message(from_, "interactive", content, message_id, None), context_id)


def list_reply(
    from_: str,
    row_id: str,
    title: str,
    *,
    description: str = "",
    context_id: str | None = None,
) -> dict[str, Any]:
    row = {"id": row_id, "title": title, "description": description}
    content = {"type": "list_reply", "list_reply": row}
    return _tap(_message(from_, "interactive", content, None, None), context_id)


def template_button(
    from_: str, payload: str, text: str, *, context_id: str | None = None
) -> dict[str, Any]:
    """A template quick-reply tap (``type: button``)."""
    content = {"payload": payload, "text": text}
    return _tap(_message(from_, "button", content, None, None), context_id)


def media_message(
    from_: str,
    kind: str,
    *,
    media_id: str | None = None,
    mime_type: str = "image/jpeg",
    caption: str | None = None,
    file: FakeFile | None = None,
    filename: str | None = None,
    voice: bool | None = None,
) -> dict[str, Any]:
    """An image / audio / video / document / sticker message; with ``file`` (`add_media`) its
    id, type, digest and name are the file's. ``voice``: an audio recorded as a voice note."""
    content: dict[str, Any] = {
        "id": file.id if file else media_id or str(random.randrange(10**15, 10**16)),
        "mime_type": file.mime_type if file else mime_type,
        "sha256": file.sha256 if file else secrets.token_hex(32),
    }
    filename = filename or (file.filename if file else None)
    if filename is not None and kind == "document":
        content["filename"] = filename
    if voice is not None:
        content["voice"] = voice
    if caption is not None:
        content["caption"] = caption
    return _message(from_, kind, content, None, None)


def contacts_message(from_: str, *cards: tuple[str, str]) -> dict[str, Any]:
    """Shared contacts: (formatted name, phone) each, in the Cloud API's card shape."""
    contacts = [
        {
            "name": {"formatted_name": name, "first_name": name.split()[0]},
            "phones": [{"phone": phone, "wa_id": phone.lstrip("+"), "type": "CELL"}],
        }
        for name, phone in cards
    ]
    return _message(from_, "contacts", {}, None, None) | {"contacts": contacts}


def reaction_message(from_: str, target_message_id: str, emoji: str) -> dict[str, Any]:
    content = {"message_id": target_message_id, "emoji": emoji}
    return _message(from_, "reaction", content, None, None)


def location_message(
    from_: str,
    latitude: float,
    longitude: float,
    *,
    name: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """A shared location; with ``name`` and ``address`` a place (a pin on a business)."""
    content: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    content |= {k: v for k, v in (("name", name), ("address", address)) if v is not None}
    return _message(from_, "location", content, None, None)


def status(
    message_id: str,
    state: str,
    recipient_id: str,
    *,
    error_code: int | None = None,
    error_title: str = "Re-engagement message",
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A delivery status (``sent``, ``delivered``, ``read`` or ``failed`` with an error); to a
    business-scoped user id (``recipient_user_id``) when ``recipient_id`` is one."""
    item: dict[str, Any] = {
        "id": message_id,
        "status": state,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        _user_key(recipient_id, "recipient_id", "recipient_user_id"): recipient_id,
    }
    if state in ("sent", "delivered"):
        item["conversation"] = {"id": secrets.token_hex(16), "origin": {"type": "service"}}
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    if error_code is not None:
        item["errors"] = [
            {
                "code": error_code,
                "title": error_title,
                "message": error_title,
                "error_data": {"details": error_title},
            }
        ]
    return item
