"""Fake Telegram Bot API server for tests and offline demos.

Speaks the wire protocol python-telegram-bot uses (``POST /bot<TOKEN>/<method>`` with form,
multipart or JSON bodies) so the real client code runs unmodified, records every call for
assertions, and can inject the failures Telegram produces in practice (flood limits, blocked
users, chat migrations, "message is not modified"). ``parse_mode=HTML`` is parsed as Telegram
parses it (`telegram_html`): invalid markup answers 400 "can't parse entities", and `sent_texts`
/ `sent_photos` give what the user sees. ``sendPhoto`` takes a URL (never fetched; see
`unreachable_urls`) or an upload.

Files users sent (`add_file`) are served as Telegram does: ``getFile`` gives a path, and
``GET /file/bot<token>/<path>`` the bytes (only with the token that asked; over 20 MB getFile
answers "file is too big").

Updates queued with `queue_update` are served by ``getUpdates`` as Telegram does: long polling up
to ``timeout`` seconds, and an ``offset`` confirms (forgets) every update below it; while a
webhook is set, ``getUpdates`` answers 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway.dev.fake_media import FakeFile, MediaFiles
from gateway.dev.server import LocalServer
from gateway.dev.telegram_html import HtmlError, visible_text

__all__ = ["FakeTelegram", "RecordedCall", "media_field", "photo_sizes"]

_INT_RE = re.compile(r"-?\d+")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_INT_FIELDS = ("chat_id", "message_id", "message_thread_id", "offset", "limit")
_JSON_FIELDS = (
    "reply_markup",
    "allowed_updates",
    "entities",
    "link_preview_options",
    "caption_entities",
    "reply_parameters",
    "commands",
    "scope",
)
_MAX_TEXT_UTF16 = 4096
_MAX_DOWNLOAD = 20 * 1024 * 1024
"""Bots download files up to 20 MB."""
_MAX_CAPTION_UTF16 = 1024
_CANT_PARSE = "Bad Request: can't parse entities: "
_WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
_URL_FAILED = "Bad Request: failed to get HTTP URL content"
_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_MAX_POLL_SECONDS = 50.0
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


@dataclass
class RecordedCall:
    """One Bot API call as the server saw it; ``status`` is the HTTP status it was answered."""

    method: str
    token: str
    params: dict[str, Any]
    at: float
    status: int = 0


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    migrate_to_chat_id: int | None
    remaining: int


class _ApiError(Exception):
    """An ``{"ok": false}`` answer raised from a method handler."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters or {}

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units, so emoji count double."""
    return len(text.encode("utf-16-le")) // 2


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def _visible(params: dict[str, Any], field: str) -> str:
    """`params[field]` as the user sees it: HTML (`parse_mode`) parsed like Telegram does, a
    refusal raised as its 400 "can't parse entities"."""
    text = params.get(field)
    text = text if isinstance(text, str) else ""
    mode = params.get("parse_mode")
    if not mode:
        return text
    if str(mode).lower() != "html":
        raise _ApiError(400, f"Bad Request: unsupported parse_mode {mode!r} in the fake")
    try:
        return visible_text(text)
    except HtmlError as exc:
        raise _ApiError(400, _CANT_PARSE + str(exc)) from None


def _shown(params: dict[str, Any], field: str) -> str:
    """What a recorded call showed the user (its raw text when Telegram refused to parse it)."""
    try:
        return _visible(params, field)
    except _ApiError:
        return str(params.get(field) or "")


def _decode_params(raw: dict[str, Any]) -> dict[str, Any]:
    """Undo PTB's form encoding: ints for ids, objects for JSON-string fields."""
    params = dict(raw)
    for name in _INT_FIELDS:
        value = params.get(name)
        if isinstance(value, str) and _INT_RE.fullmatch(value):
            params[name] = int(value)
    for name in _JSON_FIELDS:
        value = params.get(name)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params


Handler = Callable[[str, dict[str, Any]], Any]


class FakeTelegram(LocalServer):
    """In-process Bot API double; all state lives on the instance."""

    def __init__(
        self,
        *,
        bot_username: str = "gateway_demo_bot",
        bot_id: int = 777000,
        valid_tokens: set[str] | None = None,
    ) -> None:
        self.bot_username = bot_username
        self.bot_id = bot_id
        self.valid_tokens = valid_tokens
        self.calls: list[RecordedCall] = []
        self.delay_seconds: float = 0.0
        self.unknown_chats: set[int] = set()
        self.blocked_chats: set[int] = set()
        self.unreachable_urls: set[str] = set()
        """Photo URLs Telegram cannot fetch: sendPhoto answers 400 "failed to get HTTP URL
        content" (any other http(s) URL is accepted without being fetched)."""
        self.webhook: dict[str, Any] = {
            "url": "",
            "secret_token": None,
            "allowed_updates": None,
            "pending_update_count": 0,
            "max_connections": 40,
            "last_error_message": None,
            "drop_pending_updates_seen": False,
        }
        self._failures: dict[str, list[_Failure]] = {}
        # Updates not confirmed by a getUpdates offset yet, oldest first.
        self.updates: list[dict[str, Any]] = []
        self.polls_before_hold: int | None = None
        """None: every getUpdates is answered. A number: that many more are answered; later ones
        are recorded and then held unanswered until `stop`, their offset not applied (as if the
        request never reached Telegram): a poller killed there has stored its last batch and not
        confirmed it."""
        self._next_update_id = 100_000_001
        self._updates_changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_message_id: dict[int, int] = {}
        # (chat_id, message_id) -> (text, reply_markup), to detect "message is not modified".
        self._messages: dict[tuple[int, int], tuple[str | None, Any]] = {}
        self._methods: dict[str, Handler] = {
            "getMe": self._get_me,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._true_for_chat,
            "setMyCommands": self._always_true,
            "deleteMyCommands": self._always_true,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._check_polling,
            "getFile": self._get_file,
        }
        self.media = MediaFiles(lambda n: f"AgACAgIAAxkBAAI{n:06d}")
        """Files users sent (`add_file`): `getFile` and ``GET /file/bot<token>/<path>``."""
        self._file_paths: dict[str, FakeFile] = {}
        # Bot API method names are case-insensitive.
        self._by_lower = {name.lower(): name for name in self._methods}

    # ----------------------------------------------------------------- test helpers

    @property
    def bot_user(self) -> dict[str, Any]:
        """The ``from`` of every message the bot sends."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Gateway Demo",
            "username": self.bot_username,
        }

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Calls to one method (any status), in arrival order."""
        return [call for call in self.calls if call.method == method]

    def sent_texts(self, chat_id: int | None = None, *, include_failed: bool = False) -> list[str]:
        """Texts Telegram accepted via sendMessage (what users would see), in arrival order.

        Rejected attempts (injected failures, blocked chats) are left out unless
        ``include_failed`` is true, so retries don't show up as duplicates.
        """
        return [
            _shown(call.params, "text")
            for call in self.calls_to("sendMessage")
            if (include_failed or call.status == 200)
            and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    def sent_photos(self, chat_id: int | None = None) -> list[tuple[str, str]]:
        """(photo URL, caption as the user sees it) of every accepted sendPhoto, in order."""
        return [
            (str(call.params.get("photo")), _shown(call.params, "caption"))
            for call in self.calls_to("sendPhoto")
            if call.status == 200 and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail like Telegram would."""
        self._failures.setdefault(method.lower(), []).append(
            _Failure(status, description, retry_after, migrate_to_chat_id, times)
        )

    def clear_failures(self) -> None:
        """The Bot API recovers: forget every failure still queued by `fail_next`."""
        self._failures.clear()

    def queue_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (an ``update_id`` is given when missing); returns it.
        Updates are served in ``update_id`` order, as Telegram's ids increase."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            update_id = self._next_update_id
            update = {**update, "update_id": update_id}
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self.updates.append(update)
        self.updates.sort(key=lambda queued: int(queued["update_id"]))  # Telegram's order
        self._updates_changed.set()
        return update_id

    def add_file(
        self,
        data: bytes,
        mime_type: str = "application/octet-stream",
        filename: str | None = None,
        file_id: str | None = None,
    ) -> FakeFile:
        """A file a user sent: its ``id`` is the ``file_id`` for an update (`media_field`,
        `photo_sizes`); its counters say how often it was downloaded."""
        return self.media.add(data, mime_type, filename, file_id)

    def block_chat(self, chat_id: int) -> None:
        """Simulate the user having blocked the bot: sendMessage answers 403."""
        self.blocked_chats.add(chat_id)

    async def wait_for(
        self,
        method: str,
        count: int,
        timeout: float = 20.0,
    ) -> list[RecordedCall]:
        """Wait until ``count`` calls to ``method`` arrived; fails loudly with what was seen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matching = self.calls_to(method)
            if len(matching) >= count:
                return matching
            if loop.time() >= deadline:
                seen = [(call.method, call.params) for call in self.calls]
                raise AssertionError(
                    f"expected {count} {method} call(s) within {timeout}s, "
                    f"got {len(matching)}; all calls: {seen!r}"
                )
            await asyncio.sleep(0.01)

    # ----------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """Build the aiohttp app; separate from start() so tests can use aiohttp's test client."""
        app = web.Application(client_max_size=64 * 1024**2)
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download_file)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def stop(self) -> None:
        """Held and long-polling getUpdates calls end first, so stopping never waits on them."""
        self._stopping.set()
        self._updates_changed.set()
        await super().stop()

    # ----------------------------------------------------------------- dispatch

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        """Merge query string and body (JSON, urlencoded or multipart); body wins."""
        raw: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                body = await request.json()
                if isinstance(body, dict):
                    raw.update(body)
        elif request.can_read_body:
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    raw[name] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": len(value.file.read()),
                    }
                else:
                    raw[name] = value
        return _decode_params(raw)

    async def _dispatch(self, request: web.Request) -> web.Response:
        """Record first, decide the answer synchronously, then apply the artificial delay.

        Deciding before sleeping means ``RecordedCall.status`` is final as soon as a waiter can
        observe the call.
        """
        token = request.match_info["token"]
        requested = request.match_info["method"]
        method = self._by_lower.get(requested.lower(), requested)
        params = await self._read_params(request)
        call = RecordedCall(method=method, token=token, params=params, at=time.monotonic())
        self.calls.append(call)
        try:
            result = self._handle(token, method, params)
            if method == "getUpdates":
                result = await self._poll(params)
        except _ApiError as exc:
            call.status = exc.status
            body = exc.payload()
        else:
            call.status = 200
            body = {"ok": True, "result": result}
        if self.delay_seconds > 0:
            await asyncio.sleep(self.delay_seconds)
        return web.json_response(body, status=call.status)

    def _handle(self, token: str, method: str, params: dict[str, Any]) -> Any:
        if self.valid_tokens is not None and token not in self.valid_tokens:
            raise _ApiError(401, "Unauthorized")
        self._raise_injected(method)
        handler = self._methods.get(method)
        if handler is None:
            raise _ApiError(404, "Not Found: method not found")
        return handler(method, params)

    def _raise_injected(self, method: str) -> None:
        queue = self._failures.get(method.lower())
        if not queue:
            return
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        parameters: dict[str, Any] = {}
        if failure.retry_after is not None:
            parameters["retry_after"] = failure.retry_after
        if failure.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = failure.migrate_to_chat_id
        raise _ApiError(failure.status, failure.description, parameters)

    # ----------------------------------------------------------------- validation helpers

    def _chat_id(self, params: dict[str, Any]) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise _ApiError(400, "Bad Request: chat not found")
        if chat_id in self.unknown_chats:
            raise _ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _message_id(self, params: dict[str, Any]) -> int:
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        return message_id

    @staticmethod
    def _text(params: dict[str, Any]) -> str:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        shown = _visible(params, "text")  # the limits apply after entity parsing
        if not shown.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(shown) > _MAX_TEXT_UTF16:
            raise _ApiError(400, "Bad Request: message is too long")
        return text

    def _message(
        self, chat_id: int, message_id: int, text: str | None, reply_markup: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": self.bot_user,
        }
        if text is not None:
            message["text"] = text
        if reply_markup is not None:
            message["reply_markup"] = reply_markup
        return message

    # ----------------------------------------------------------------- methods

    def _get_me(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _always_true(self, method: str, params: dict[str, Any]) -> bool:
        return True

    def _true_for_chat(self, method: str, params: dict[str, Any]) -> bool:
        self._chat_id(params)
        return True

    def _send_message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        if chat_id in self.blocked_chats:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        text = self._text(params)
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        reply_markup = params.get("reply_markup")
        self._messages[(chat_id, message_id)] = (text, reply_markup)
        message = self._message(chat_id, message_id, text, reply_markup)
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        return message

    def _send_photo(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A photo by URL (or an uploaded file), with an optional caption in `parse_mode`."""
        chat_id = self._chat_id(params)
        if chat_id in self.blocked_chats:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        photo = params.get("photo")
        if isinstance(photo, str):
            if not photo.startswith(("https://", "http://")):
                raise _ApiError(400, _WRONG_FILE)
            if photo in self.unreachable_urls:
                raise _ApiError(400, _URL_FAILED)
        elif not isinstance(photo, dict):
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        caption = _visible(params, "caption")
        if _utf16_len(caption) > _MAX_CAPTION_UTF16:
            raise _ApiError(400, "Bad Request: message caption is too long")
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message = self._message(chat_id, message_id, None, params.get("reply_markup"))
        size = {"file_id": f"photo-{chat_id}-{message_id}", "width": 800, "height": 600}
        message["photo"] = [{**size, "file_unique_id": size["file_id"]}]
        if caption:
            message["caption"] = caption
        return message

    def _send_chat_action(self, method: str, params: dict[str, Any]) -> bool:
        self._chat_id(params)
        if not params.get("action"):
            raise _ApiError(400, "Bad Request: wrong type of action")
        return True

    def _answer_callback_query(self, method: str, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise _ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        return True

    def _edit_message_text(self, method: str, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = self._text(params)
        reply_markup = params.get("reply_markup")
        if params.get("inline_message_id"):
            return True
        chat_id = self._chat_id(params)
        message_id = self._message_id(params)
        key = (chat_id, message_id)
        if self._messages.get(key) == (text, reply_markup):
            raise _ApiError(400, _NOT_MODIFIED)
        self._messages[key] = (text, reply_markup)
        message = self._message(chat_id, message_id, text, reply_markup)
        message["edit_date"] = int(time.time())
        return message

    def _edit_message_reply_markup(
        self, method: str, params: dict[str, Any]
    ) -> dict[str, Any] | bool:
        reply_markup = params.get("reply_markup")
        if params.get("inline_message_id"):
            return True
        chat_id = self._chat_id(params)
        message_id = self._message_id(params)
        key = (chat_id, message_id)
        known = self._messages.get(key)
        # Unknown messages (e.g. injected via synthetic updates) are accepted leniently.
        if known is not None and known[1] == reply_markup:
            raise _ApiError(400, _NOT_MODIFIED)
        text = known[0] if known is not None else None
        self._messages[key] = (text, reply_markup)
        message = self._message(chat_id, message_id, text, reply_markup)
        message["edit_date"] = int(time.time())
        return message

    def _set_webhook(self, method: str, params: dict[str, Any]) -> bool:
        url = params.get("url")
        if url is None:
            raise _ApiError(400, "Bad Request: bad webhook: URL must be specified")
        secret = params.get("secret_token") or None
        if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        webhook = self.webhook
        if "max_connections" in params:
            try:
                max_connections = int(params["max_connections"])
            except (TypeError, ValueError):
                raise _ApiError(400, "Bad Request: bad webhook: invalid max_connections") from None
            if not 1 <= max_connections <= 100:
                raise _ApiError(400, "Bad Request: bad webhook: invalid max_connections")
            webhook["max_connections"] = max_connections
        if "allowed_updates" in params:
            webhook["allowed_updates"] = params["allowed_updates"]
        webhook["url"] = str(url)
        webhook["secret_token"] = secret
        self._maybe_drop_pending(params)
        return True

    def _delete_webhook(self, method: str, params: dict[str, Any]) -> bool:
        self.webhook["url"] = ""
        self.webhook["secret_token"] = None
        self._maybe_drop_pending(params)
        return True

    def _maybe_drop_pending(self, params: dict[str, Any]) -> None:
        if _truthy(params.get("drop_pending_updates")):
            self.webhook["pending_update_count"] = 0
            self.webhook["drop_pending_updates_seen"] = True

    def _check_polling(self, method: str, params: dict[str, Any]) -> None:
        """The synchronous half of getUpdates (the long poll is `_poll`)."""
        if self.webhook["url"]:
            raise _ApiError(409, _WEBHOOK_ACTIVE)
        for name in ("offset", "limit"):
            if name in params and not isinstance(params[name], int):
                raise _ApiError(400, f"Bad Request: invalid {name} specified")
        if "allowed_updates" in params:
            self.webhook["allowed_updates"] = params["allowed_updates"]

    async def _poll(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Confirm what is below ``offset``, then answer the updates left, waiting up to
        ``timeout`` seconds for one when there are none."""
        if self.polls_before_hold is not None:
            if self.polls_before_hold <= 0:
                await self._stopping.wait()
                return []
            self.polls_before_hold -= 1
        offset = params.get("offset")
        if isinstance(offset, int) and offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        try:
            timeout = min(max(float(params.get("timeout") or 0), 0.0), _MAX_POLL_SECONDS)
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: invalid timeout specified") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.updates and not self._stopping.is_set():
            left = deadline - loop.time()
            if left <= 0:
                break
            self._updates_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updates_changed.wait(), left)
        return self.updates[:limit]

    def _get_file(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        file = self.media.get(str(params.get("file_id") or ""))
        if file is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if file.size > _MAX_DOWNLOAD:
            raise _ApiError(400, "Bad Request: file is too big")
        extension = mimetypes.guess_extension(file.mime_type.partition(";")[0]) or ""
        path = f"documents/file_{file.id[-6:]}{extension}"
        self._file_paths[path] = file
        return {
            "file_id": file.id,
            "file_unique_id": f"{file.id}-u",
            "file_size": file.size,
            "file_path": path,
        }

    async def _download_file(self, request: web.Request) -> web.StreamResponse:
        """A file URL is valid for the token whose getFile gave it (anything else: 404)."""
        token = request.match_info["token"]
        file = self._file_paths.get(request.match_info["path"])
        asked = file is not None and any(
            call.method == "getFile"
            and call.token == token
            and call.status == 200
            and call.params.get("file_id") == file.id
            for call in self.calls
        )
        if file is None or not asked:
            return await self._not_found(request)
        return await self.media.serve(request, file)

    def _get_webhook_info(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        webhook = self.webhook
        info: dict[str, Any] = {
            "url": webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": webhook["pending_update_count"],
            "max_connections": webhook["max_connections"],
            "allowed_updates": webhook["allowed_updates"],
            "last_error_message": webhook["last_error_message"],
        }
        if webhook["last_error_message"] is not None:
            info["last_error_date"] = int(time.time())
        return {name: value for name, value in info.items() if value is not None}


# --------------------------------------------------------------------- inbound media fields

_MEDIA_REQUIRED: dict[str, dict[str, Any]] = {
    "document": {},
    "audio": {"duration": 3},
    "voice": {"duration": 2},
    "video": {"duration": 4, "width": 640, "height": 360},
    "video_note": {"duration": 5, "length": 240},
    "animation": {"duration": 1, "width": 320, "height": 240},
    "sticker": {
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    },
}
"""The fields the Bot API always sends for each kind of file, besides the file's own."""


def media_field(
    kind: str, file: FakeFile, *, file_size: bool = True, **extra: Any
) -> dict[str, Any]:
    """The message field Telegram sends for ``file`` as a ``document``, ``audio``, ``voice``,
    ``video``, ``video_note``, ``animation`` or ``sticker`` (``extra`` overrides)."""
    value: dict[str, Any] = {
        "file_id": file.id,
        "file_unique_id": f"{file.id}-u",
        **_MEDIA_REQUIRED[kind],
    }
    if file_size:
        value["file_size"] = file.size
    if kind not in ("video_note", "sticker"):
        value["mime_type"] = file.mime_type
    if kind in ("document", "audio", "video", "animation") and file.filename:
        value["file_name"] = file.filename
    return value | extra


def photo_sizes(file: FakeFile, *, width: int = 1280, height: int = 960) -> list[dict[str, Any]]:
    """A ``photo`` field: two thumbnails Telegram made (other file ids) and ``file`` itself,
    largest last."""
    sizes = [
        {
            "file_id": f"{file.id}-{scale}",
            "file_unique_id": f"{file.id}-{scale}-u",
            "file_size": max(1, file.size // scale**2),
            "width": width // scale,
            "height": height // scale,
        }
        for scale in (16, 4)
    ]
    largest = {"file_id": file.id, "file_unique_id": f"{file.id}-u", "file_size": file.size}
    return [*sizes, {**largest, "width": width, "height": height}]
