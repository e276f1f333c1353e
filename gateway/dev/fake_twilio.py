"""Fake Twilio REST API (Messages, Account, IncomingPhoneNumbers, the media users sent) for tests
and offline demos.

Speaks the wire protocol the twilio package uses (form-encoded POSTs with HTTP basic auth, JSON
answers, Twilio-shaped errors) so the real client runs unmodified, records every call, and can
inject the failures Twilio produces in practice (20429 rate limits, 21610 opted-out recipients,
invalid numbers, 5xx). Module helpers build and sign the webhooks Twilio would post.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from gateway.dev.fake_media import FakeFile, MediaFiles
from gateway.dev.fake_whatsapp import BSUID_RE
from gateway.dev.server import MessageRecordingServer

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "FakeTwilio",
    "RecordedRequest",
    "encode_form",
    "inbound_form",
    "new_sid",
    "sign",
    "status_form",
]

DEFAULT_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEFAULT_AUTH_TOKEN = "fake-twilio-auth-token"
API_VERSION = "2010-04-01"
MAX_BODY = 1600
MAX_MEDIA = 10
_MEDIA_URL_RE = re.compile(r"https?://[^\s]+")
_E164_RE = re.compile(r"\+[1-9]\d{6,14}")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def _address_ok(address: str) -> bool:
    """An E.164 number (``whatsapp:`` or not), or ``whatsapp:`` and a WhatsApp user's
    business-scoped user id (a user known by username only: ``whatsapp:US.1349...``)."""
    number = address.removeprefix("whatsapp:")
    if number != address and BSUID_RE.fullmatch(number):
        return True
    return bool(_E164_RE.fullmatch(number))


@dataclass
class RecordedRequest:
    """One API request as the server saw it; ``status`` is the HTTP status it was answered."""

    resource: str
    """``messages``, ``account``, ``numbers.list``, ``numbers.update`` or ``unknown``."""
    method: str
    path: str
    params: dict[str, Any]
    """Query and form fields; a repeated field is a list."""
    authorized: bool
    at: float
    status: int = 0


@dataclass
class _Failure:
    status: int
    code: int
    message: str
    retry_after: float | None
    remaining: int


@dataclass
class PhoneNumber:
    """An IncomingPhoneNumber of the fake account."""

    phone_number: str
    sid: str = field(default_factory=lambda: new_sid("PN"))
    sms_url: str = ""
    sms_method: str = "POST"
    status_callback: str = ""


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


class FakeTwilio(MessageRecordingServer):
    """In-process Twilio REST double; all state lives on the instance."""

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        phone_numbers: Iterable[str] = ("+15005550006",),
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers: dict[str, PhoneNumber] = {n: PhoneNumber(n) for n in phone_numbers}
        self.calls: list[RecordedRequest] = []
        self.messages: list[dict[str, Any]] = []
        """Message resources Twilio accepted, in arrival order (plus what was asked and is not
        echoed: ``status_callback``, ``media_urls``)."""
        self.opted_out: set[str] = set()
        """Recipients that texted STOP: sending to them answers 400 / 21610."""
        self.delay_seconds: float = 0.0
        self.flaky_probability: float = 0.0
        """Chance that a Messages call answers 500 (see `flaky`)."""
        self._random = random.Random(0)
        self._failures: list[_Failure] = []
        self.media = MediaFiles(lambda n: f"ME{n:032x}")
        """Media users sent (`add_media`), served at their `media_url` with basic auth."""
        self.media_redirect: str | None = None
        """An origin (``http://localhost:<port>``) the media URLs redirect to, as Twilio's
        redirect to its CDN; the file is served there (``/cdn/<id>``) without authentication."""
        """``http://host:port`` while serving."""

    # ----------------------------------------------------------------- test helpers

    def add_number(self, phone_number: str) -> PhoneNumber:
        number = PhoneNumber(phone_number)
        self.numbers[phone_number] = number
        return number

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        code: int = 20429,
        message: str = "Too Many Requests",
        retry_after: float | None = None,
    ) -> None:
        """Make the next ``n`` Messages API calls fail like Twilio would."""
        self._failures.append(_Failure(status, code, message, retry_after, n))

    def add_media(
        self,
        data: bytes,
        mime_type: str = "image/jpeg",
        filename: str | None = None,
        file_id: str | None = None,
    ) -> FakeFile:
        """Media a user sent; `media_url` is its ``MediaUrl{N}``, its counters say how often
        it was downloaded."""
        return self.media.add(data, mime_type, filename, file_id)

    def media_url(self, file: FakeFile) -> str:
        """Where Twilio serves ``file`` (the fake must be started)."""
        message = new_sid("MM")
        account = f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}"
        return f"{account}/Messages/{message}/Media/{file.id}"

    def sent_bodies(self, to: str | None = None) -> list[str]:
        """Bodies of accepted messages (what users would receive), in arrival order."""
        return [m["body"] for m in self.messages if to is None or m["to"] == to]

    # ----------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        app = web.Application()
        prefix = f"/{API_VERSION}/Accounts/{{sid}}"
        app.router.add_post(prefix + "/Messages.json", self._create_message)
        app.router.add_get(prefix + ".json", self._fetch_account)
        app.router.add_get(prefix + "/IncomingPhoneNumbers.json", self._list_numbers)
        app.router.add_post(prefix + "/IncomingPhoneNumbers/{pn}.json", self._update_number)
        app.router.add_get(prefix + "/Messages/{message}/Media/{media}", self._get_media)
        app.router.add_get("/cdn/{media}", self._get_cdn_media)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # ----------------------------------------------------------------- dispatch

    async def _serve(self, request: web.Request, resource: str, handler: Any) -> web.Response:
        """Record, authenticate, decide synchronously (status is final once recorded), delay."""
        params = await _params(request)
        call = RecordedRequest(
            resource=resource,
            method=request.method,
            path=request.path,
            params=params,
            authorized=self._authorized(request),
            at=time.monotonic(),
        )
        self.calls.append(call)
        headers: dict[str, str] = {}
        try:
            if not call.authorized:
                raise _ApiError(401, 20003, "Authenticate", {"WWW-Authenticate": "Basic"})
            status, body = handler(request, params)
        except _ApiError as exc:
            status, body, headers = exc.status, exc.payload(), exc.headers
        call.status = status
        if self.delay_seconds > 0:
            await asyncio.sleep(self.delay_seconds)
        return web.json_response(body, status=status, headers=headers)

    def _authorized(self, request: web.Request) -> bool:
        if request.match_info.get("sid") != self.account_sid:
            return False
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    async def _not_found(self, request: web.Request) -> web.Response:
        return await self._serve(request, "unknown", self._missing)

    def _missing(self, request: web.Request, params: dict[str, Any]) -> tuple[int, Any]:
        raise _ApiError(404, 20404, f"The requested resource {request.path} was not found")

    # ----------------------------------------------------------------- Messages

    async def _create_message(self, request: web.Request) -> web.Response:
        return await self._serve(request, "messages", self._message)

    def _message(self, request: web.Request, params: dict[str, Any]) -> tuple[int, Any]:
        self._raise_injected()
        to, from_ = _one(params, "To"), _one(params, "From")
        service, body = _one(params, "MessagingServiceSid"), _one(params, "Body")
        if not to:
            raise _ApiError(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            raise _ApiError(400, 21603, "A 'From' phone number is required.")
        media = params.get("MediaUrl") or []
        media = media if isinstance(media, list) else [media]
        if not body and not media:
            raise _ApiError(400, 21602, "Message body is required.")
        if len(media) > MAX_MEDIA or not all(_MEDIA_URL_RE.fullmatch(url) for url in media):
            raise _ApiError(400, 21620, "Invalid media URL(s).")
        if len(body) > MAX_BODY:
            raise _ApiError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if not _address_ok(to):
            raise _ApiError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.opted_out:
            raise _ApiError(400, 21610, "Attempt to send to unsubscribed recipient")
        message = self._message_resource(to, from_, service, body)
        message["num_media"] = str(len(media))
        # What was asked for but is not echoed by Twilio, kept for assertions.
        asked = {"status_callback": _one(params, "StatusCallback") or None, "media_urls": media}
        self.messages.append({**message, **asked})
        return 201, message

    def _raise_injected(self) -> None:
        if self._failures:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.pop(0)
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            raise _ApiError(failure.status, failure.code, failure.message, headers)
        if self.flaky_probability and self._random.random() < self.flaky_probability:
            raise _ApiError(500, 20500, "Internal Server Error")

    def _message_resource(self, to: str, from_: str, service: str, body: str) -> dict[str, Any]:
        sid = new_sid("SM")
        now = formatdate(usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_ or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": "1" if len(body) <= 160 else str(-(-len(body) // 153)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if from_ else "accepted",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }

    # ----------------------------------------------------------------- Media

    async def _get_media(self, request: web.Request) -> web.StreamResponse:
        """A ``MediaUrl``: basic auth (else 401), then the bytes or a redirect to the CDN."""
        file = self.media.get(request.match_info["media"])
        call = self._record_media(request, "media", self._authorized(request))
        if not call.authorized:
            call.status = 401
            error = _ApiError(401, 20003, "Authenticate")
            return web.json_response(error.payload(), status=401, headers=error.headers)
        if file is None:
            call.status = 404
            error = _ApiError(404, 20404, f"The requested resource {request.path} was not found")
            return web.json_response(error.payload(), status=404)
        if self.media_redirect:
            call.status = 307
            raise web.HTTPTemporaryRedirect(f"{self.media_redirect}/cdn/{file.id}")
        call.status = 200
        return await self.media.serve(request, file)

    async def _get_cdn_media(self, request: web.Request) -> web.StreamResponse:
        """Where a media URL redirects: no authentication (the URL is the secret)."""
        file = self.media.get(request.match_info["media"])
        call = self._record_media(request, "media_cdn", True)
        call.status = 200 if file is not None else 404
        if file is None:
            return web.Response(status=404)
        return await self.media.serve(request, file)

    def _record_media(
        self, request: web.Request, resource: str, authorized: bool
    ) -> RecordedRequest:
        call = RecordedRequest(resource, "GET", request.path, {}, authorized, time.monotonic())
        self.calls.append(call)
        return call

    # ----------------------------------------------------------------- Account and numbers

    async def _fetch_account(self, request: web.Request) -> web.Response:
        return await self._serve(request, "account", self._account)

    def _account(self, request: web.Request, params: dict[str, Any]) -> tuple[int, Any]:
        now = formatdate(usegmt=True)
        return 200, {
            "auth_token": self.auth_token,  # the real API does answer it; clients must drop it
            "date_created": now,
            "date_updated": now,
            "friendly_name": "Fake Twilio account",
            "owner_account_sid": self.account_sid,
            "sid": self.account_sid,
            "status": "active",
            "subresource_uris": {},
            "type": "Full",
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}.json",
        }

    async def _list_numbers(self, request: web.Request) -> web.Response:
        return await self._serve(request, "numbers.list", self._numbers)

    def _numbers(self, request: web.Request, params: dict[str, Any]) -> tuple[int, Any]:
        wanted = _one(params, "PhoneNumber")
        found = [n for n in self.numbers.values() if not wanted or n.phone_number == wanted]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        return 200, {
            "incoming_phone_numbers": [self._number_resource(n) for n in found],
            "end": max(len(found) - 1, 0),
            "first_page_uri": f"{uri}?PageSize=50&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }

    async def _update_number(self, request: web.Request) -> web.Response:
        return await self._serve(request, "numbers.update", self._update)

    def _update(self, request: web.Request, params: dict[str, Any]) -> tuple[int, Any]:
        sid = request.match_info["pn"]
        number = next((n for n in self.numbers.values() if n.sid == sid), None)
        if number is None:
            raise _ApiError(404, 20404, f"The requested resource {request.path} was not found")
        for param, attribute in (
            ("SmsUrl", "sms_url"),
            ("SmsMethod", "sms_method"),
            ("StatusCallback", "status_callback"),
        ):
            if param in params:
                setattr(number, attribute, _one(params, param))
        return 200, self._number_resource(number)

    def _number_resource(self, number: PhoneNumber) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "capabilities": {"sms": True, "mms": True, "voice": True},
            "friendly_name": number.phone_number,
            "phone_number": number.phone_number,
            "sid": number.sid,
            "sms_method": number.sms_method,
            "sms_url": number.sms_url,
            "status_callback": number.status_callback,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/"
            f"{number.sid}.json",
        }


async def _params(request: web.Request) -> dict[str, Any]:
    """Query and form fields; a repeated field becomes a list."""
    fields: MultiDict[str] = MultiDict(request.query)
    if request.method == "POST" and request.can_read_body:
        form = await request.post()
        fields.extend((name, value) for name, value in form.items() if isinstance(value, str))
    params: dict[str, Any] = {}
    for name in fields:
        values = fields.getall(name)
        params[name] = values[0] if len(values) == 1 else values
    return params


def _one(params: dict[str, Any], name: str) -> str:
    value = params.get(name, "")
    return value[-1] if isinstance(value, list) else value


# --------------------------------------------------------------------- webhook helpers


def sign(url: str, params: Mapping[str, Any], auth_token: str = DEFAULT_AUTH_TOKEN) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a form POST to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, params)


def encode_form(params: Mapping[str, str]) -> bytes:
    """The request body Twilio would post (application/x-www-form-urlencoded)."""
    return urlencode(list(params.items())).encode()


def inbound_form(
    *,
    from_: str = "+14155550100",
    to: str = "+15005550006",
    body: str = "hello",
    message_sid: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    media: Iterable[tuple[str, str]] = (),
    profile_name: str | None = None,
    button_payload: str | None = None,
    button_text: str | None = None,
    opt_out_type: str | None = None,
    messaging_service_sid: str | None = None,
    location: tuple[float, float] | None = None,
    address: str | None = None,
    label: str | None = None,
) -> dict[str, str]:
    """A real-shaped inbound message webhook (SMS, or WhatsApp when ``from_`` is
    ``whatsapp:+...``, or ``whatsapp:<business-scoped user id>`` for a user known by username
    only); ``media`` is ``(url, content_type)`` pairs (`FakeTwilio.media_url`);
    ``location`` (latitude, longitude) with its ``address`` and ``label``: a WhatsApp location."""
    sid = message_sid or new_sid("MM" if media else "SM")
    media = list(media)
    form: dict[str, str] = {
        "SmsMessageSid": sid,
        "NumMedia": str(len(media)),
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    for index, (url, content_type) in enumerate(media):
        form[f"MediaUrl{index}"] = url
        form[f"MediaContentType{index}"] = content_type
    if from_.startswith("whatsapp:"):
        user = from_.removeprefix("whatsapp:")
        if BSUID_RE.fullmatch(user):  # a user known by username only: no number at all
            form |= {"WaId": "", "ExternalUserId": user}
        else:
            form["WaId"] = user.removeprefix("+")
        form["ProfileName"] = profile_name or "WhatsApp User"
        kind = media[0][1].partition("/")[0] if media else "text"
        kind = kind if kind in ("text", "image", "audio", "video") else "document"
        form["MessageType"] = "button" if button_payload else "location" if location else kind
        if location is not None:
            form |= {"Latitude": str(location[0]), "Longitude": str(location[1])}
            form |= {k: v for k, v in (("Address", address), ("Label", label)) if v}
    else:  # SMS carries the carriers' geography, often blank
        form |= dict.fromkeys(("ToCity", "ToZip", "FromCity", "FromZip", "FromState"), "")
        form |= {"ToCountry": "US", "ToState": "CA", "FromCountry": "US"}
        if profile_name:
            form["ProfileName"] = profile_name
    if button_payload is not None:
        form["ButtonPayload"] = button_payload
        form["ButtonText"] = button_text or body
    if opt_out_type is not None:
        form["OptOutType"] = opt_out_type
    if messaging_service_sid is not None:
        form["MessagingServiceSid"] = messaging_service_sid
    return form


def status_form(
    *,
    message_sid: str,
    status: str = "delivered",
    to: str = "+14155550100",
    from_: str = "+15005550006",
    account_sid: str = DEFAULT_ACCOUNT_SID,
    error_code: str | None = None,
) -> dict[str, str]:
    """A real-shaped status callback form (``ErrorCode`` on ``failed``/``undelivered``)."""
    form = {
        "SmsSid": message_sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to,
        "MessageSid": message_sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if error_code is not None:
        form["ErrorCode"] = error_code
    return form
