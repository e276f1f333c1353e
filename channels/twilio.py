"""Twilio Messaging adapter: SMS, and WhatsApp carried over Twilio, for one "sms" account.

Inbound: form-encoded webhooks signed with `X-Twilio-Signature` (the twilio package's
`RequestValidator`), answered with empty TwiML. Outbound: the Messages API through the twilio
package's async client, redirected to `api_base_url` when one is configured (fake APIs in tests).
"""

from __future__ import annotations

import base64
import logging
import math
from contextvars import ContextVar
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout
from multidict import MultiDict
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from yarl import URL

from channels.base import ChannelAdapter, MediaSource, SignedProbe
from channels.capabilities import SMS, WHATSAPP_VIA_TWILIO, Capabilities
from channels.common import (
    attachment_kind,
    header,
    is_bsuid,
    make_event,
    mime_essence,
    parse_retry_after,
)
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

API_DEFAULT = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'

MAX_FORM_FIELDS = 1000
MAX_MEDIA = 20
HTTP_TIMEOUT = 15.0
CONNECT_TIMEOUT = 5.0

RATE_LIMIT_CODES = frozenset({20429, 63017, 63018})
OPTED_OUT_CODE = 21610

# The Messages API answers the rejected request itself; the rest of the response (Retry-After)
# is not on TwilioRestException, so the HTTP client leaves it here for the calling task.
_last_response: ContextVar[Response | None] = ContextVar("twilio_last_response", default=None)


class TwilioAdapter(ChannelAdapter):
    """Body limit from the Messages API: 1600 characters (Twilio segments SMS itself)."""

    channel: ClassVar[str] = "sms"
    capabilities: ClassVar[Capabilities] = SMS
    required_secrets: ClassVar[tuple[str, ...]] = ("auth_token",)
    api_secrets: ClassVar[tuple[str, ...]] = ("auth_token",)

    def capabilities_for(self, chat: str) -> Capabilities:
        return WHATSAPP_VIA_TWILIO if chat.startswith(WHATSAPP_PREFIX) else SMS

    def channel_of(self, chat: str) -> str:
        return "whatsapp" if chat.startswith(WHATSAPP_PREFIX) else "sms"

    def __init__(self, account: AccountInfo) -> None:
        super().__init__(account)
        self._validator = RequestValidator(account.secrets["auth_token"])
        self._http: RedirectingHttpClient | None = None
        self._client: Client | None = None
        self.timeout = HTTP_TIMEOUT

    @property
    def client(self) -> Client:
        """Built on first use: verifying webhooks needs only the auth token."""
        if self._client is None:
            base = str(self.account.config.get("api_base_url") or API_DEFAULT).rstrip("/")
            self._http = RedirectingHttpClient(
                None if base == API_DEFAULT else base, timeout=self.timeout
            )
            self._client = Client(
                self._account_sid,
                self.account.secrets["auth_token"],
                http_client=self._http,
            )
        return self._client

    @property
    def _account_sid(self) -> str:
        sid = self.account.config.get("account_sid")
        if not sid:
            raise SendError("twilio account_sid is not configured", permanent=True)
        return str(sid)

    # --- inbound -----------------------------------------------------------------------------
    def verify(self, request: InboundRequest) -> None:
        signature = header(request.headers, SIGNATURE_HEADER)
        if signature is None:
            raise WebhookRejected(401, "missing_signature", f"{SIGNATURE_HEADER} header is missing")
        form = parse_form(request.body)
        try:
            valid = self._validator.validate(request.url, form, signature)
        except (ValueError, UnicodeError):  # an unparsable URL or unencodable text
            valid = False
        if not valid:
            raise WebhookRejected(403, "bad_signature", f"{SIGNATURE_HEADER} does not match")

    def parse(self, request: InboundRequest) -> list[InboundEvent]:
        form = parse_form(request.body)
        if _is_status_callback(request.url):
            return [self._status_event(form)]
        if _is_misrouted_status(form):
            log.warning(
                "twilio: a status callback arrived on the inbound message URL of account %r "
                "(the number's or the messaging service's status callback points at "
                "/webhooks/twilio/%s instead of its /status route): recorded as a status",
                self.account.account,
                self.account.account,
            )
            return [self._status_event(form)]
        return [self._message_event(form)]

    def webhook_reply(self) -> WebhookReply:
        return WebhookReply(200, EMPTY_TWIML, "text/xml")

    def _message_event(self, form: MultiDict[str]) -> InboundEvent:
        sid = _first(form, "MessageSid", "SmsMessageSid", "SmsSid")
        sender_address = form.get("From")
        if not sid or not sender_address:
            raise WebhookRejected(400, "malformed_form", "MessageSid and From are required")
        channel, sender, hints = _sender(sender_address)
        hints["to"] = form.get("To")
        if form.get("OptOutType"):
            hints["opt_out_type"] = form["OptOutType"]
        # A quick-reply button (ButtonPayload / ButtonText) or a list picker row (ListId /
        # ListTitle): a tap whose title is what the user said, its id the payload.
        payload = form.get("ButtonPayload") or form.get("ListId")
        title = form.get("ButtonText") if form.get("ButtonPayload") else form.get("ListTitle")
        attachments, problems = _attachments(form, whatsapp=channel == "whatsapp")
        if problems:
            # Kept with the event (support sees why); with nothing else left, the user is told
            # the message could not be read (the Unreadable handler).
            hints["unreadable_items"] = problems
            log.warning("twilio: part of message %s unreadable: %s", sid, "; ".join(problems))
        return make_event(
            channel=channel,
            account=self.account.account,
            event_id=sid,
            kind="action" if payload else "message",
            action=payload or None,
            sender=sender,
            chat=sender_address,
            message_id=sid,
            text=(title if payload else None) or form.get("Body") or None,
            attachments=attachments,
            display_name=form.get("ProfileName") or None,
            hints=hints,
            raw=_raw(form),
        )

    def _status_event(self, form: MultiDict[str]) -> InboundEvent:
        sid = _first(form, "MessageSid", "SmsSid")
        status = _first(form, "MessageStatus", "SmsStatus")
        if not sid or not status:
            raise WebhookRejected(
                400, "malformed_form", "MessageSid and MessageStatus are required"
            )
        recipient = form.get("To") or None
        is_whatsapp = bool(recipient and _is_whatsapp(recipient))
        hints: dict[str, Any] = {
            "provider_message_id": sid,
            "status": status,
            "error_code": form.get("ErrorCode") or None,
        }
        if is_whatsapp:
            hints["via"] = self.channel
        return make_event(
            channel="whatsapp" if is_whatsapp else self.channel,
            account=self.account.account,
            event_id=f"{sid}:{status}",
            kind="status",
            chat=recipient,
            hints=hints,
            raw=_raw(form),
        )

    # --- outbound ----------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> SendResult:
        created = await self._call(self.client.messages.create_async, **self._send_params(message))
        return SendResult(provider_message_id=created.sid, chat=message.chat)

    def _send_params(self, message: OutboundMessage) -> dict[str, Any]:
        config = self.account.config
        params: dict[str, Any] = {"to": message.chat, "body": message.text}
        image = message.options.get("image_url")
        if isinstance(image, str) and image:  # MMS, or WhatsApp media; `body` its caption
            params["media_url"] = [image]
        from_number = config.get("from_number")
        if from_number:
            from_number = str(from_number)
            if _is_whatsapp(message.chat) and not _is_whatsapp(from_number):
                from_number = WHATSAPP_PREFIX + from_number
            params["from_"] = from_number
        elif config.get("messaging_service_sid"):
            params["messaging_service_sid"] = str(config["messaging_service_sid"])
        else:
            raise SendError(
                "twilio account has neither from_number nor messaging_service_sid", permanent=True
            )
        callback = self.status_callback_url()
        if callback:
            params["status_callback"] = callback
        return params

    def status_callback_url(self) -> str | None:
        """Where Twilio should post delivery status (the gateway's status route)."""
        public_url = self.account.config.get("public_url")
        if not public_url:
            return None
        account = quote(self.account.account, safe="")
        return f"{str(public_url).rstrip('/')}/webhooks/twilio/{account}/status"

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """One twilio client call with failures mapped to the gateway's classes."""
        _last_response.set(None)
        try:
            return await method(*args, **kwargs)
        except (TwilioRestException, TwilioServiceException) as exc:
            response = _last_response.get()
            retry_header = header(response.headers or {}, "Retry-After") if response else None
            raise classify_error(exc.status, exc.code, _error_text(exc), retry_header) from None
        except (ClientError, TimeoutError) as exc:
            raise SendError(f"twilio connection error: {type(exc).__name__}") from None
        except (TwilioException, ValueError) as exc:  # incl. an unreadable 2xx body
            raise SendError(f"twilio error: {type(exc).__name__}") from None

    async def media_source(self, attachment: Attachment) -> MediaSource:
        """The `MediaUrl` itself; the account's credentials go with it only to the API's own
        origin (Twilio's media URLs; it redirects to its CDN, which needs none)."""
        url = attachment.url or ""
        if not url.startswith(("https://", "http://")):
            raise SendError("the attachment has no Twilio media URL", permanent=True)
        headers: dict[str, str] = {}
        if _origin(url) in {_origin(API_DEFAULT), _origin(self._api_base)}:
            token = self.account.secrets["auth_token"]
            headers["Authorization"] = _basic_auth(self._account_sid, token)
        return MediaSource(url=url, headers=headers, mime_type=attachment.mime_type)

    @property
    def _api_base(self) -> str:
        return str(self.account.config.get("api_base_url") or API_DEFAULT).rstrip("/")

    # --- operator commands -------------------------------------------------------------------
    async def fetch_account(self) -> dict[str, Any]:
        """The Account resource (for `gateway verify`); never includes credentials."""
        account = await self._call(self.client.api.v2010.accounts(self._account_sid).fetch_async)
        return {
            "sid": account.sid,
            "friendly_name": account.friendly_name,
            "status": account.status,
            "type": account.type,
        }

    async def configure_number(
        self, phone_number: str, sms_url: str, status_callback: str
    ) -> dict[str, Any]:
        """Point an IncomingPhoneNumber's messaging webhooks at the gateway."""
        numbers = self.client.api.v2010.accounts(self._account_sid).incoming_phone_numbers
        found = await self._call(numbers.list_async, phone_number=phone_number, limit=1)
        if not found:
            raise SendError(f"no incoming phone number {phone_number} on account", permanent=True)
        updated = await self._call(
            numbers(found[0].sid).update_async,
            sms_url=sms_url,
            sms_method="POST",
            status_callback=status_callback,
        )
        return {
            "sid": updated.sid,
            "phone_number": updated.phone_number,
            "sms_url": updated.sms_url,
            "sms_method": updated.sms_method,
            "status_callback": updated.status_callback,
        }

    async def link_instructions(self, code: str) -> str:
        number = self.account.config.get("from_number")
        to = f" to {number}" if number else ""
        return f"Text LINK {code}{to}"

    async def check_credentials(self) -> str:
        found = await self.fetch_account()
        return f"Twilio account {found.get('status', 'found')}"

    def signed_probe(self, path: str, public_url: str | None) -> SignedProbe:
        """A delivery status for no message of ours, signed over the public URL like Twilio's."""
        path += "/status"
        form = {
            "MessageSid": "SMgatewayverify" + "0" * 19,
            "MessageStatus": "received",
            "To": str(self.account.config.get("from_number") or "+10000000000"),
        }
        public = (public_url or "").rstrip("/") + path
        signature = RequestValidator(self.account.secrets["auth_token"]).compute_signature(
            public, form
        )
        headers = {
            SIGNATURE_HEADER: signature,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return SignedProbe(path, urlencode(form).encode(), headers)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


class RedirectingHttpClient(AsyncTwilioHttpClient):
    """The twilio async HTTP client with three changes:

    - every request goes to `base_url` (scheme and host replaced, path and query kept), so the
      unmodified twilio client can talk to a fake API;
    - a default timeout is applied (upstream passes the per-call `timeout=None` to aiohttp, which
      means "wait forever");
    - the session is created lazily inside the running loop, and the last response is published
      to the calling task (`_last_response`) so errors can honour `Retry-After`.
    """

    def __init__(self, base_url: str | None = None, timeout: float | None = None) -> None:
        super().__init__(pool_connections=False, timeout=timeout or HTTP_TIMEOUT)
        self.base_url = base_url.rstrip("/") if base_url else None
        self._session: ClientSession | None = None

    def rewrite(self, url: str) -> str:
        if self.base_url is None:
            return url
        parts = urlsplit(url)
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base_url + rest

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if self._session is None or self._session.closed:
            self._session = ClientSession(
                timeout=ClientTimeout(
                    total=self.timeout,
                    connect=min(CONNECT_TIMEOUT, self.timeout or CONNECT_TIMEOUT),
                ),
                connector=guarded_connector(),
            )
        headers = dict(headers or {})
        if auth:
            headers["Authorization"] = _basic_auth(*auth)
        options: dict[str, Any] = {}
        if timeout is not None:
            options["timeout"] = ClientTimeout(total=timeout)
        async with self._session.request(
            method.upper(),
            self.rewrite(url),
            params=_form_items(params),
            data=_form_items(data),
            headers=headers,
            allow_redirects=allow_redirects,
            **options,
        ) as answer:
            text = await answer.text(errors="replace")
            response = Response(answer.status, text, answer.headers)
        log.debug("twilio %s %s -> %s", method.upper(), urlsplit(url).path, answer.status)
        _last_response.set(response)
        return response

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


# --- helpers ---------------------------------------------------------------------------------
def parse_form(body: bytes) -> MultiDict[str]:
    """The posted fields as Twilio signed them: blank values kept, repeated names kept."""
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except ValueError as exc:  # UnicodeDecodeError included
        raise WebhookRejected(
            400, "malformed_form", f"body is not a UTF-8 form: {type(exc).__name__}"
        ) from None
    return MultiDict(pairs)


def classify_error(
    status: int, code: int | None, message: str, retry_after: str | None = None
) -> SendError:
    """Twilio REST failure -> SendError (rate limit / permanent / transient)."""
    if status == 429 or code in RATE_LIMIT_CODES:
        seconds = parse_retry_after(retry_after)
        return SendError(f"twilio {code or status}: rate limited", retry_after=seconds)
    if code == OPTED_OUT_CODE:
        return SendError(f"recipient opted out ({OPTED_OUT_CODE})", permanent=True, opted_out=True)
    if 400 <= status < 500:
        return SendError(f"twilio {code or status}: {message}", permanent=True)
    return SendError(f"twilio {code or status}: {message or 'server error'}")


def _error_text(exc: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(exc, TwilioServiceException):
        return exc.detail or exc.title
    # "Unable to create record: <Twilio's message>" -> Twilio's message
    head, sep, tail = exc.msg.partition(": ")
    return tail if sep and head.startswith("Unable to") else exc.msg


def _basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _is_misrouted_status(form: MultiDict[str]) -> bool:
    """A delivery status posted to the inbound message URL: it carries `MessageStatus`, and
    neither it nor `SmsStatus` is `received` (what an inbound message says). Never a message:
    answering it would text the gateway's own number."""
    if not form.get("MessageStatus"):
        return False
    return "received" not in (form.get("MessageStatus"), form.get("SmsStatus"))


def _is_status_callback(url: str) -> bool:
    """`.../webhooks/twilio/{account}/status`, but not the message route of an account that
    happens to be called "status"."""
    try:
        segments = urlsplit(url).path.rstrip("/").split("/")
    except ValueError:
        return False
    return segments[-1] == "status" and segments[-3:-1] != ["webhooks", "twilio"]


def _first(form: MultiDict[str], *names: str) -> str | None:
    for name in names:
        value = form.get(name)
        if value:
            return value
    return None


def _is_whatsapp(address: str) -> bool:
    return address[: len(WHATSAPP_PREFIX)].lower() == WHATSAPP_PREFIX


def _sender(address: str) -> tuple[str, str, dict[str, Any]]:
    """(channel, sender, hints) for a `From`: WhatsApp users are identified by their wa_id
    (digits, no '+'), the same id the Cloud API uses; replies go out through this account."""
    if not _is_whatsapp(address):
        return "sms", address, {}
    number = address[len(WHATSAPP_PREFIX) :].strip()
    digits = number.removeprefix("+")
    if digits.isascii() and digits.isdigit():
        return "whatsapp", digits, {"via": TwilioAdapter.channel}
    if is_bsuid(number):
        # A user with a WhatsApp username may hide the number: From is then their
        # business-scoped user id (`whatsapp:US.13491208655302741918`), which is how they are
        # identified and answered.
        return "whatsapp", number, {"via": TwilioAdapter.channel}
    raise WebhookRejected(400, "malformed_form", "From is not a WhatsApp number")


def _attachments(form: MultiDict[str], *, whatsapp: bool) -> tuple[list[Attachment], list[str]]:
    """Every `MediaUrl{N}` (kind from `MediaContentType{N}`), and a WhatsApp location; and why
    an item could not be read. One odd item never costs the message: a `NumMedia` that is not a
    number reads the `MediaUrl{N}` there are, a location with a bad coordinate is left out."""
    declared = form.get("NumMedia") or "0"
    problems: list[str] = []
    if not declared.isascii() or not declared.isdigit():
        problems.append("NumMedia is not a number")
        declared = str(MAX_MEDIA)
    found: list[Attachment] = []
    for index in range(min(int(declared), MAX_MEDIA)):
        url = form.get(f"MediaUrl{index}")
        if not url:
            continue
        mime_type = form.get(f"MediaContentType{index}") or None
        kind = attachment_kind(mime_type)
        if _is_recording(kind, mime_type, whatsapp=whatsapp):
            kind = "voice"
        found.append(Attachment(kind=kind, url=url, mime_type=mime_type))
    if whatsapp and form.get("Latitude") and form.get("Longitude"):
        latitude = _degrees(form, "Latitude", 90)
        longitude = _degrees(form, "Longitude", 180)
        if latitude is None or longitude is None:
            problems.append("the location's Latitude/Longitude is not a coordinate")
        else:
            found.append(
                Attachment(
                    kind="location",
                    latitude=latitude,
                    longitude=longitude,
                    name=form.get("Label") or None,
                    address=form.get("Address") or None,
                )
            )
    return found, problems


def _is_recording(kind: str, mime_type: str | None, *, whatsapp: bool) -> bool:
    """Twilio marks no voice notes. WhatsApp records them as Ogg Opus (other audio is a shared
    file); over MMS, audio is what the phone recorded (voice memos go as MMS audio)."""
    if whatsapp:
        return mime_essence(mime_type) == "audio/ogg"
    return kind == "audio"


def _degrees(form: MultiDict[str], name: str, limit: float) -> float | None:
    try:
        value = float(form[name])
    except ValueError:
        return None
    return value if math.isfinite(value) and abs(value) <= limit else None


def _origin(url: str) -> str:
    try:
        return str(URL(url).origin())
    except ValueError:
        return ""


def _raw(form: MultiDict[str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in form:
        if name not in raw:
            values = form.getall(name)
            raw[name] = values[0] if len(values) == 1 else values
    return raw


def _form_items(values: dict[str, object] | None) -> list[tuple[str, str]] | None:
    """A twilio params/data dict as form pairs; list values become repeated fields."""
    if values is None:
        return None
    items: list[tuple[str, str]] = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            items.append((name, str(item)))
    return items
