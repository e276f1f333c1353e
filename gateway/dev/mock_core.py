"""Deterministic mock of the responses core (`POST /v1/responses`, OpenAI Responses shape).

Exists so the gateway can be developed, demoed and tested without a real AI backend: answers
are pure functions of the request, failures and latency are steerable per request (text
directives) or globally (``MockCoreControls``), and every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import math
import re
import secrets
import signal
import time
from dataclasses import dataclass, fields
from typing import Any

from aiohttp import web
from aiohttp.log import access_logger

from gateway.dev.mock_core_approvals import MockCoreApprovals
from gateway.dev.mock_core_transcribe import MockTranscriptions
from gateway.dev.server import LISTEN_BACKLOG
from gateway.version import BUILD_HEADER, VERSION_HEADER, gateway_version

__all__ = ["MockCore", "MockCoreControls", "run_mock_core"]

_LOG = logging.getLogger(__name__)

_DIRECTIVE_RE = re.compile(
    r"\s*#(status|slow|long|approval|core_approval|ratelimit|reason|detail|empty|markdown|image)"
    r"=(\S+)"
)
_FILLER_WORDS = (
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "ut",
    "enim", "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris",
    "nisi", "ut", "aliquip", "ex", "ea", "commodo", "consequat",
)  # fmt: skip
_PARAGRAPH_CHARS = 500
_MAX_LONG = 1_000_000
_ERROR_TYPES = {
    400: "invalid_request",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found",
    409: "conflict",
    429: "rate_limit_exceeded",
}


@dataclass
class MockCoreControls:
    """Knobs tests flip at runtime to simulate latency, outages and auth."""

    delay_seconds: float = 0.0
    delay_jitter_seconds: float = 0.0
    """Added to `delay_seconds`: this many seconds times a fraction drawn from the user's text
    (`answer_delay`), so a benchmark knows each call's delay without asking."""
    fail_status: int | None = None
    fail_count: int | None = None
    retry_after: int = 2
    api_key: str | None = None


@dataclass
class _Directives:
    """Per-request steering parsed out of the user's text."""

    status: int | None = None
    slow: float | None = None
    long: int | None = None
    approval: str | None = None
    core_approval: str | None = None
    """`#core_approval=<tool>`: the core's own pending approval for the turn's user."""
    ratelimit: tuple[str, int] | None = None
    """`#ratelimit=user:N` / `#ratelimit=project:N`: (scope, seconds)."""
    reason: str | None = None
    """`#reason=x`: the error's top-level `reason`."""
    markdown: bool = False
    """`#markdown=1`: answer with `MARKDOWN_SAMPLE` (what an agent's formatted answer looks
    like) instead of the echo."""
    image: str | None = None
    """`#image=<https url>`: the answer's message also carries an `output_image` part."""
    detail: str | None = None
    """`#detail=x`: the error's `detail.reason` (and no top-level `reason`)."""
    empty: bool = False
    """`#empty=1`: a 200 whose output has no message (no `output_text`)."""


class _RequestError(Exception):
    """Carries an error answer up to the handler so every exit path records its status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
        reason: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason, self.detail = reason, detail
        self.status = status
        self.message = message
        self.error_type = error_type or _ERROR_TYPES.get(
            status, "server_error" if status >= 500 else "mock_error"
        )
        self.param = param
        self.code = code
        self.retry_after = retry_after

    def response(self) -> web.Response:
        """Render in the OpenAI error shape (plus the core's machine-readable `reason`, or
        `detail.reason`), with Retry-After on 429."""
        body: dict[str, Any] = {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }
        if self.detail is not None:
            body["detail"] = {"reason": self.detail, "message": self.message}
        elif self.reason is not None:
            body["reason"] = self.reason
        headers = {}
        if self.status == 429 and self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return web.json_response(body, status=self.status, headers=headers)


def _sha_hex(data: str) -> str:
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:24]


def _canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _words(text: str) -> int:
    return len(text.split())


def _filler(length: int) -> str:
    """Deterministic prose of exactly ``length`` chars, split into ~500-char paragraphs."""
    if length <= 0:
        return ""
    parts: list[str] = []
    total = 0
    paragraph = 0
    index = 0
    while total < length:
        word = _FILLER_WORDS[index % len(_FILLER_WORDS)]
        index += 1
        if total == 0:
            sep = ""
        elif paragraph >= _PARAGRAPH_CHARS:
            sep = ".\n\n"
            paragraph = 0
            word = word.capitalize()
        else:
            sep = " "
        parts.append(sep + word)
        total += len(sep) + len(word)
        paragraph += len(sep) + len(word)
    text = "".join(parts)[:length]
    stripped = text.rstrip()
    # Never end on whitespace: a trimmed reply would silently change the length.
    return stripped + "." * (length - len(stripped))


def answer_delay(text: str, delay: float, jitter: float) -> float:
    """How long the mock waits before answering `text`: `delay` plus `jitter` times a fraction
    in [0, 1) taken from the text's SHA-256 (the same text, the same delay)."""
    if jitter <= 0:
        return delay
    fraction = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64
    return delay + jitter * fraction


def _user_text(raw_input: str | list[dict[str, Any]]) -> str:
    """Concatenate what the user said, ignoring assistant turns and non-message items."""
    if isinstance(raw_input, str):
        return raw_input
    chunks: list[str] = []
    for item in raw_input:
        if item.get("type", "message") != "message" or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            chunks.append(content)
        elif isinstance(content, list):
            for part in content:
                if (
                    isinstance(part, dict)
                    and part.get("type") in ("text", "input_text")
                    and isinstance(part.get("text"), str)
                ):
                    chunks.append(part["text"])
    return "\n".join(chunks)


def _user_media(raw_input: str | list[dict[str, Any]]) -> list[str]:
    """What the user's image and file parts hold, in order: `[image image/jpeg 12,345 bytes]`,
    `[file a.pdf application/pdf 2,048 bytes]` (the decoded size of the `data:` URL)."""
    if isinstance(raw_input, str):
        return []
    found: list[str] = []
    for item in raw_input:
        content = item.get("content")
        if item.get("type", "message") != "message" or item.get("role") != "user":
            continue
        for part in content if isinstance(content, list) else []:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "input_image":
                mime, size = _data_url(part.get("image_url"))
                found.append(f"[image {mime} {size:,} bytes]")
            elif part.get("type") == "input_file":
                mime, size = _data_url(part.get("file_data"))
                found.append(f"[file {part.get('filename') or '-'} {mime} {size:,} bytes]")
    return found


def _data_url(value: Any) -> tuple[str, int]:
    """The type and decoded size of a `data:<type>;base64,<data>` URL (`-`, 0: not one)."""
    if not isinstance(value, str) or not value.startswith("data:"):
        return "-", 0
    header, _, data = value[5:].partition(",")
    mime = header.partition(";")[0] or "-"
    try:
        return mime, len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return mime, 0


MARKDOWN_SAMPLE = """## Your trip to Berlin

**Day 1**: the _Museum Island_ and ~~the TV tower~~ a walk by the river.

- Tickets: `BER-2041`
- Map: [Berlin transit](https://www.bvg.de/en)

```
check-in 15:00
```"""
"""The answer to `#markdown=1`: every construct a channel renders (heading, bold, italic,
strikethrough, inline code, a list, a link, a code block)."""


def _image_parts(url: str | None) -> list[dict[str, Any]]:
    """`#image=<url>`: an `output_image` part after the text (how a core returns an image)."""
    if not url:
        return []
    return [{"type": "output_image", "image_url": url, "alt": "Generated image"}]


def _parse_directives(text: str) -> tuple[_Directives, str]:
    """Pull ``#name=value`` directives out; malformed values are dropped, not fatal."""
    directives = _Directives()
    for name, value in _DIRECTIVE_RE.findall(text):
        with contextlib.suppress(ValueError):
            if name == "status":
                directives.status = int(value)
            elif name == "slow":
                directives.slow = max(0.0, float(value))
            elif name == "long":
                directives.long = min(max(0, int(value)), _MAX_LONG)
            elif name == "approval":
                directives.approval = value
            elif name == "core_approval":
                directives.core_approval = value
            elif name == "ratelimit":
                scope, _, seconds = value.partition(":")
                if scope not in ("user", "project"):
                    raise ValueError(scope)
                directives.ratelimit = (scope, max(1, int(seconds or "2")))
            elif name == "markdown":
                directives.markdown = value != "0"
            elif name == "image":
                directives.image = value
            elif name == "reason":
                directives.reason = value
            elif name == "detail":
                directives.detail = value
            else:
                directives.empty = value != "0"
    return directives, _DIRECTIVE_RE.sub("", text).strip()


_DEFAULT_REASONS = {402: "quota_exceeded", 429: "user_rate_limited"}
"""The `reason` a mock error carries unless `#reason=` / `#detail=` names another."""


def _rate_limited(scope: str, seconds: float) -> _RequestError:
    return _RequestError(
        429,
        f"Rate limit reached for this {scope}; retry after the given seconds.",
        retry_after=math.ceil(seconds),
        reason=f"{scope}_rate_limited",
    )


def _is_error_status(status: int | None) -> bool:
    return status is not None and 400 <= status <= 599


class MockCore:
    """Mock responses core; one instance owns its recorded requests and stored responses."""

    def __init__(self, controls: MockCoreControls | None = None, *, quiet: bool = True) -> None:
        self.controls: MockCoreControls = controls or MockCoreControls()
        self.quiet = quiet
        self.requests: list[dict[str, Any]] = []
        self._responses: dict[str, dict[str, Any]] = {}
        self._depths: dict[str, int] = {}
        self.conversations: dict[str, list[str]] = {}
        """Per `conversation` id, the response ids of its turns so far, in order."""
        self._approvals: dict[str, str] = {}
        self.core_approvals = MockCoreApprovals()
        """Approvals the core owns (admin endpoints, signed events): `mock_core_approvals`."""
        self.transcriptions = MockTranscriptions(lambda: self.controls.api_key)
        """`POST /v1/audio/transcriptions`: `mock_core_transcribe`."""
        self._idempotent: dict[str, dict[str, Any]] = {}
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._runner: web.AppRunner | None = None
        self._limited_keys: set[str] = set()
        self._windows: dict[tuple[str, str], float] = {}
        """Open `#ratelimit` windows: (scope, user or "" for the project) -> monotonic end."""
        self.in_flight = 0
        self.peak_in_flight = 0
        """Requests to /v1/responses being answered now, and the most at once since a reset."""
        # The build it reports (headers on every answer, `GET /health`); tests may change them.
        self.version: str | None = f"mock-{gateway_version()}"
        self.build: str | None = "mock"

    # ----------------------------------------------------------------- lifecycle

    def make_app(self) -> web.Application:
        """Build the aiohttp app; separate from start() so tests can use aiohttp's test client."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        app.router.add_get("/health", self._health)
        app.router.add_get("/health/ready", self._health)
        app.router.add_get("/health/live", self._health)
        app.router.add_post("/v1/responses", self._create_response)
        app.router.add_get("/mock/requests", self._list_requests)
        app.router.add_get("/mock/concurrency", self._concurrency)
        app.router.add_post("/mock/reset", self._reset)
        app.router.add_post("/mock/controls", self._set_controls)
        self.core_approvals.routes(app)
        self.transcriptions.routes(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in the current loop; returns the base URL (real port when ``port`` is 0)."""
        if self._runner is not None:
            raise RuntimeError("MockCore already started")
        runner = web.AppRunner(self.make_app(), access_log=None if self.quiet else access_logger)
        await runner.setup()
        # A real core sits behind a server with a deep accept queue; aiohttp's default (128)
        # dropped the SYNs of a thousand turns connecting at once, and each dropped one came
        # back a second later (TCP's retransmission timeout) as a second of "gateway" latency.
        site = web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        return f"http://{host}:{bound_port}"

    async def stop(self) -> None:
        """Stop serving; safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def reset(self) -> None:
        """Forget requests, responses and controls (in place, so held references stay valid)."""
        self.requests.clear()
        self._responses.clear()
        self._depths.clear()
        self.conversations.clear()
        self._approvals.clear()
        self.core_approvals.reset()
        self.transcriptions.reset()
        self._idempotent.clear()
        self._key_locks.clear()
        self._limited_keys.clear()
        self._windows.clear()
        self.peak_in_flight = self.in_flight
        defaults = MockCoreControls()
        for field in fields(MockCoreControls):
            setattr(self.controls, field.name, getattr(defaults, field.name))

    # ----------------------------------------------------------------- plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """JSON 404/405s and an X-Request-ID on every answer, so clients can always correlate."""
        request_id = request.headers.get("X-Request-ID") or f"req_{secrets.token_hex(12)}"
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = web.json_response(
                {
                    "error": {
                        "message": exc.reason,
                        "type": _ERROR_TYPES.get(exc.status, "mock_error"),
                        "param": None,
                        "code": None,
                    }
                },
                status=exc.status,
            )
        response.headers["X-Request-ID"] = request_id
        if self.version is not None:
            response.headers[VERSION_HEADER] = self.version
        if self.build is not None:
            response.headers[BUILD_HEADER] = self.build
        return response

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": self.version, "build": self.build})

    async def _list_requests(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests})

    def reset_peak(self) -> None:
        """Start counting `peak_in_flight` again from now."""
        self.peak_in_flight = self.in_flight

    async def _concurrency(self, request: web.Request) -> web.Response:
        return web.json_response({"in_flight": self.in_flight, "peak": self.peak_in_flight})

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"status": "ok"})

    async def _set_controls(self, request: web.Request) -> web.Response:
        """Let out-of-process tests flip controls; validates names and types loosely."""
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return _RequestError(400, "Body must be a JSON object.").response()
        known = {field.name for field in fields(MockCoreControls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            return _RequestError(400, f"Unknown controls: {', '.join(unknown)}.").response()
        for name, value in payload.items():
            ok = {
                "delay_seconds": isinstance(value, int | float) and not isinstance(value, bool),
                "delay_jitter_seconds": (
                    isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
                ),
                "fail_status": value is None or (type(value) is int),
                "fail_count": value is None or (type(value) is int),
                "retry_after": type(value) is int,
                "api_key": value is None or isinstance(value, str),
            }[name]
            if not ok:
                return _RequestError(400, f"Invalid value for {name!r}.", param=name).response()
        for name, value in payload.items():
            delays = ("delay_seconds", "delay_jitter_seconds")
            setattr(self.controls, name, float(value) if name in delays else value)
        return web.json_response(
            {f.name: getattr(self.controls, f.name) for f in fields(self.controls)}
        )

    # ----------------------------------------------------------------- /v1/responses

    async def _create_response(self, request: web.Request) -> web.Response:
        """Record, then answer; the recorded status is filled in on every exit path."""
        raw = await request.text()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        record: dict[str, Any] = {
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "body": body if body is not None else raw,
            "status": None,
            "at": time.monotonic(),
        }
        self.requests.append(record)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            result = await self._answer(request, body)
        except _RequestError as exc:
            record["status"] = exc.status
            if not self.quiet:
                _LOG.info("POST /v1/responses -> %s %s", exc.status, exc.message)
            return exc.response()
        finally:
            self.in_flight -= 1
        record["status"] = 200
        return web.json_response(result)

    def _check_auth(self, request: web.Request) -> None:
        expected = self.controls.api_key
        if expected is None:
            return
        if request.headers.get("Authorization") != f"Bearer {expected}":
            raise _RequestError(
                401,
                "Incorrect API key provided.",
                error_type="authentication_error",
                code="invalid_api_key",
            )

    def _validate(self, body: Any) -> dict[str, Any]:
        """Reject what the real core would reject, with the same error shape."""
        if not isinstance(body, dict):
            raise _RequestError(400, "Request body must be a JSON object.")
        model = body.get("model")
        if "model" not in body:
            raise _RequestError(400, "Missing required parameter: 'model'.", param="model")
        if not isinstance(model, str) or not model:
            raise _RequestError(400, "Invalid value for 'model': expected a string.", param="model")
        if "input" not in body:
            raise _RequestError(400, "Missing required parameter: 'input'.", param="input")
        raw_input = body["input"]
        if not isinstance(raw_input, str | list):
            raise _RequestError(
                400,
                "Invalid type for 'input': expected a string or an array of input items.",
                param="input",
            )
        if isinstance(raw_input, list):
            for index, item in enumerate(raw_input):
                if not isinstance(item, dict):
                    raise _RequestError(
                        400, "Input items must be objects.", param=f"input[{index}]"
                    )
        previous = body.get("previous_response_id")
        if previous is not None and not isinstance(previous, str):
            raise _RequestError(
                400,
                "Invalid type for 'previous_response_id': expected a string.",
                param="previous_response_id",
            )
        conversation = body.get("conversation")
        if isinstance(conversation, dict):  # `{"id": ...}` is the other documented form
            conversation = conversation.get("id")
        if conversation is not None and (not isinstance(conversation, str) or not conversation):
            raise _RequestError(
                400,
                "Invalid type for 'conversation': expected a string or an object with an id.",
                param="conversation",
            )
        if conversation is not None and previous is not None:
            raise _RequestError(
                400,
                "'conversation' and 'previous_response_id' are mutually exclusive.",
                param="conversation",
            )
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _RequestError(
                400, "Invalid type for 'metadata': expected an object.", param="metadata"
            )
        return body

    def _apply_global_failure(self) -> None:
        """Fail per controls; fail_count makes the outage self-healing after N requests."""
        controls = self.controls
        status = controls.fail_status
        if not _is_error_status(status):
            return
        if controls.fail_count is not None:
            if controls.fail_count <= 0:
                controls.fail_status = None
                controls.fail_count = None
                return
            controls.fail_count -= 1
            if controls.fail_count == 0:
                controls.fail_status = None
                controls.fail_count = None
        assert status is not None
        raise _RequestError(
            status,
            f"Mock core configured to fail with {status}.",
            retry_after=controls.retry_after,
            # It fails every request, whoever asks: a limit on the project, not one user.
            reason="project_rate_limited" if status == 429 else _DEFAULT_REASONS.get(status),
        )

    def _apply_rate_limits(self, request: web.Request, body: dict[str, Any]) -> None:
        """`#ratelimit=user:N` / `#ratelimit=project:N`: the first request with its idempotency
        key opens an N-second window for its user (or for everyone) and is refused; every
        request inside an open window is refused with the seconds left as `Retry-After`."""
        now = time.monotonic()
        user = str(body.get("user") or "")
        for scope, who in (("project", ""), ("user", user)):
            until = self._windows.get((scope, who))
            if until is not None and until > now:
                raise _rate_limited(scope, until - now)
        directives, _ = _parse_directives(_user_text(body["input"]))
        key = request.headers.get("X-Idempotency-Key") or _canonical(body)
        if directives.ratelimit is not None and key not in self._limited_keys:
            self._limited_keys.add(key)
            scope, seconds = directives.ratelimit
            self._windows[(scope, "" if scope == "project" else user)] = now + seconds
            raise _rate_limited(scope, seconds)

    async def _answer(self, request: web.Request, body: Any) -> dict[str, Any]:
        self._check_auth(request)
        body = self._validate(body)
        controls = self.controls
        if controls.delay_seconds > 0 or controls.delay_jitter_seconds > 0:
            text = _user_text(body["input"])
            delay = answer_delay(text, controls.delay_seconds, controls.delay_jitter_seconds)
            await asyncio.sleep(delay)
        self._apply_global_failure()
        self._apply_rate_limits(request, body)
        key = request.headers.get("X-Idempotency-Key")
        if not key:
            return await self._generate(body, None)
        lock = self._key_locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._idempotent.get(key)
            if cached is not None:
                return cached
            result = await self._generate(body, key)
            self._idempotent[key] = result
            return result

    async def _generate(self, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        """Build the deterministic response and remember it for chaining and approvals."""
        previous = body.get("previous_response_id")
        conversation = body.get("conversation")
        if isinstance(conversation, dict):
            conversation = conversation.get("id")
        depth = 0
        if conversation is not None:
            # The gateway owns conversation ids: an unknown one is a new conversation.
            depth = len(self.conversations.get(conversation, ()))
        elif previous is not None:
            if previous not in self._responses:
                raise _RequestError(
                    400,
                    f"Previous response with id '{previous}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            depth = self._depths[previous] + 1

        raw_input = body["input"]
        user_text = _user_text(raw_input)
        directives, clean_text = _parse_directives(user_text)
        if _is_error_status(directives.status):
            assert directives.status is not None
            raise _RequestError(
                directives.status,
                f"Mock error requested with #status={directives.status}.",
                retry_after=self.controls.retry_after,
                reason=directives.reason or _DEFAULT_REASONS.get(directives.status),
                detail=directives.detail,
            )
        if directives.slow:
            await asyncio.sleep(directives.slow)

        digest = _sha_hex(key if key is not None else _canonical(body))
        response_id = f"resp_{digest}"
        output: list[dict[str, Any]] = []
        decisions = self._approval_decisions(raw_input)
        if decisions:
            text = "\n".join(decisions)
        elif directives.approval:
            # `#approval=a,b`: one mcp_approval_request per tool, in one response.
            for index, tool in enumerate(directives.approval.split(",")):
                approval_id = f"mcpr_{_sha_hex(f'{response_id}:approval:{index}')}"
                self._approvals[approval_id] = tool
                output.append(
                    {
                        "type": "mcp_approval_request",
                        "id": approval_id,
                        "server_label": "gw",
                        "name": tool,
                        "arguments": json.dumps({"text": clean_text}),
                    }
                )
            text = f"Approval needed to run {directives.approval.replace(',', ' and ')}."
        elif directives.core_approval:
            approval_id = self.core_approvals.create(
                str(body.get("user") or ""),
                directives.core_approval,
                clean_text or directives.core_approval,
                conversation,
            )
            text = f"Waiting for your approval to run {directives.core_approval} ({approval_id})."
        elif directives.long is not None:
            text = _filler(directives.long)
        elif directives.markdown:
            text = MARKDOWN_SAMPLE
        else:
            echoed = " ".join(filter(None, [clean_text, *_user_media(raw_input)]))
            text = f"Echo: {echoed}".rstrip()
            if depth > 0:
                text += f" (turn {depth + 1})"
        if directives.empty:
            # `#empty=1`: the model only "thought"; nothing to say.
            text = ""
            output.append({"type": "reasoning", "id": f"rs_{digest}", "summary": []})
        else:
            output.append(
                {
                    "type": "message",
                    "id": f"msg_{digest}",
                    "role": "assistant",
                    "status": "completed",
                    "content": [
                        {"type": "output_text", "text": text, "annotations": []},
                        *_image_parts(directives.image),
                    ],
                }
            )
        input_tokens = _words(user_text) + 10
        output_tokens = _words(text)
        total = input_tokens + output_tokens
        metadata = dict(body.get("metadata") or {})
        # The core's own ids, model and cost, as a General Augment core reports them.
        metadata["general_augment_request_id"] = f"gareq_{_sha_hex(response_id + ':request')}"
        metadata["general_augment_trace_id"] = f"trace_{_sha_hex(response_id)}"
        metadata["general_augment_model"] = f"mock-{body['model']}-1"
        metadata["general_augment_cost_usd"] = f"{total * 0.000002:.8f}"
        result: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": body["model"],
            "previous_response_id": previous,
            "output": output,
            "usage": {
                "input_tokens": input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": total,
                "cost": round(total * 0.000002, 8),
            },
            "error": None,
            "incomplete_details": None,
            "metadata": metadata,
        }
        self._responses[response_id] = result
        self._depths[response_id] = depth
        if conversation is not None:
            self.conversations.setdefault(conversation, []).append(response_id)
            result["conversation"] = {"id": conversation}
        return result

    def _approval_decisions(self, raw_input: str | list[dict[str, Any]]) -> list[str]:
        """Turn mcp_approval_response items into "Approved:/Denied: <tool>" lines."""
        if isinstance(raw_input, str):
            return []
        lines: list[str] = []
        for item in raw_input:
            if item.get("type") != "mcp_approval_response":
                continue
            request_id = str(item.get("approval_request_id", ""))
            tool = self._approvals.get(request_id, request_id)
            verdict = "Approved" if item.get("approve") is True else "Denied"
            lines.append(f"{verdict}: {tool}")
        return lines


def run_mock_core(
    host: str,
    port: int,
    *,
    quiet: bool,
    delay: float = 0.0,
    fail_status: int | None = None,
    api_key: str | None = None,
    delay_jitter: float = 0.0,
) -> None:
    """Blocking entry point for ``gateway mock-core``; exits cleanly on SIGINT/SIGTERM."""
    controls = MockCoreControls(
        delay_seconds=delay,
        delay_jitter_seconds=delay_jitter,
        fail_status=fail_status,
        api_key=api_key,
    )
    core = MockCore(controls, quiet=quiet)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        url = await core.start(host, port)
        if not quiet:
            print(f"mock core listening on {url}", flush=True)
        try:
            await stop.wait()
        finally:
            await core.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
