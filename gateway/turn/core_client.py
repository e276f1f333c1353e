"""Client for the responses core: `POST {core}/v1/responses`, and its OpenAI-compatible
`POST {core}/v1/audio/transcriptions` for voice notes (`gateway/turn/transcribe.py`).

Retries happen only where a repeat is safe and useful: connection errors, timeouts and 5xx, always
with the same `X-Idempotency-Key`, so the core answers a repeated turn with the same response.
Everything else is classified once and handed back to the pipeline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from gateway.metrics import Metrics
from gateway.netguard import guarded_connector
from gateway.storage.backoff import retry_delay
from gateway.version import CoreBuildCache


@dataclass
class CoreRequest:
    base_url: str
    api_key: str | None
    idempotency_key: str
    model: str
    user: str
    input: Any
    previous_response_id: str | None
    metadata: dict[str, str]
    conversation: str | None = None
    """The gateway's conversation id (the project's `threading` is `conversation`); sent
    instead of `previous_response_id`, never with it."""


@dataclass
class TranscriptionRequest:
    base_url: str
    api_key: str | None
    idempotency_key: str
    model: str
    audio: bytes
    filename: str
    """With an extension the core can tell the audio format by (`voice.ogg`)."""
    mime_type: str


@dataclass
class CoreResult:
    header_request_id: str
    """The `X-Request-ID` the core answered with (or ours, when it sent none or never answered)."""
    latency_ms: int
    status: int | None
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    error: str | None = None
    local: bool = False
    """Answered from a 429 the gateway remembers: the core was not called (see `CoreCaller`)."""
    unusable: bool = False
    """The core answered, but with a body the gateway will not read (larger than
    GATEWAY_CORE_MAX_RESPONSE_BYTES): a failed call like a rejected request, never retried."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.unusable

    def without_output(self) -> CoreResult:
        """This result without its `output` items, once they are read (`text`, the approval
        requests): every other property answers the same."""
        if "output" not in self.body:
            return self
        return replace(self, body={k: v for k, v in self.body.items() if k != "output"})

    @property
    def response_id(self) -> str | None:
        return _short(self.body.get("id"))

    @property
    def metadata(self) -> dict[str, Any]:
        """The response's `metadata` (empty when the core sent none or something else)."""
        meta = self.body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def request_id(self) -> str:
        """The core's own request id when it names one in the metadata, else the header's."""
        meta = self.metadata
        found = _short(meta.get("general_augment_request_id")) or _short(meta.get("request_id"))
        return found or self.header_request_id

    @property
    def trace_id(self) -> str | None:
        meta = self.metadata
        return _short(meta.get("general_augment_trace_id")) or _short(meta.get("trace_id"))

    @property
    def model(self) -> str | None:
        """The concrete model the core ran (the request names only a tier)."""
        return _short(self.metadata.get("general_augment_model")) or _short(self.body.get("model"))

    @property
    def reason(self) -> str | None:
        """The core's machine-readable reason for an error: `reason`, else `detail.reason`, else
        `error.code` (None for a success or an error without one)."""
        if self.ok:
            return None
        detail, error = self.body.get("detail"), self.body.get("error")
        for value in (
            self.body.get("reason"),
            detail.get("reason") if isinstance(detail, dict) else None,
            error.get("code") if isinstance(error, dict) else None,
        ):
            if _short(value):
                return _short(value)
        return None

    @property
    def text(self) -> str:
        """Every `output_text` part of the `message` items, joined (the SDK's `output_text`);
        an `output_image` part with an https `image_url` becomes a Markdown image in its place,
        so it is delivered as an image where the channel can send one."""
        parts = [
            _part_text(part)
            for item in _list(self.body.get("output"))
            if isinstance(item, dict) and item.get("type") == "message"
            for part in _list(item.get("content"))
            if isinstance(part, dict)
        ]
        return "".join(parts)

    @property
    def approval_requests(self) -> list[dict[str, Any]]:
        """The `mcp_approval_request` output items (each needs a human decision)."""
        return [
            item
            for item in _list(self.body.get("output"))
            if isinstance(item, dict)
            and item.get("type") == "mcp_approval_request"
            and isinstance(item.get("id"), str)
            and item["id"]
        ]

    @property
    def cost(self) -> float | None:
        """`metadata.general_augment_cost_usd` (metadata values are strings); a core that does
        not report it there may still put a number in `usage.cost`."""
        usage = self.body.get("usage")
        for value in (
            self.metadata.get("general_augment_cost_usd"),
            usage.get("cost") if isinstance(usage, dict) else None,
        ):
            try:
                if value is not None and not isinstance(value, bool):
                    found = float(value)
                    if math.isfinite(found):
                        return found
            except (TypeError, ValueError):
                continue
        return None

    @property
    def previous_response_missing(self) -> bool:
        error = self.body.get("error")
        if not isinstance(error, dict):
            return False
        return self.status in (400, 404) and (
            error.get("param") == "previous_response_id"
            or error.get("code") == "previous_response_not_found"
        )


TYPICAL_WEIGHT = 0.05
"""Each response call's weight in `CoreClient.typical_seconds` (about the last 20 calls count)."""

MAX_ID_CHARS = 128
"""The turn row's id columns are this wide: a longer value from the core is cut, never refused."""


def _list(value: Any) -> list[Any]:
    """A JSON array from the core, or empty when it sent something else there."""
    return value if isinstance(value, list) else []


def _part_text(part: dict[str, Any]) -> str:
    kind, text = part.get("type"), part.get("text")
    if kind == "output_text":
        return text if isinstance(text, str) else ""
    url = part.get("image_url")
    if kind == "output_image" and isinstance(url, str) and url.startswith("https://"):
        alt = part.get("alt")
        alt = alt if isinstance(alt, str) else ""
        url = url.replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")
        return f"\n\n![{_markdown_safe(alt)}](<{url}>)\n\n"
    return ""


def _markdown_safe(text: str) -> str:
    """Alt text inside `![...]`: brackets and backslashes escaped, one line."""
    text = " ".join(text.split())
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _short(value: Any) -> str | None:
    """A non-empty string from the core's JSON, cut to the column's width; anything else None."""
    if isinstance(value, str) and value:
        return value[:MAX_ID_CHARS]
    return None


class CoreClient:
    def __init__(
        self,
        metrics: Metrics,
        *,
        timeout: float,
        attempts: int,
        backoff_base: float = 0.5,
        max_response_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.metrics = metrics
        self.max_response_bytes = max_response_bytes
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=5)
        self.attempts = attempts
        self.backoff_base = backoff_base
        self._session: aiohttp.ClientSession | None = None
        # What the core's answers say about its build (readiness shows it; gateway/version.py).
        self.core_build = CoreBuildCache()
        self.typical_seconds = 0.0
        """How long a response call typically takes (an exponentially weighted average of the
        recent ones, seeded by the first): the worker's batches wait for company in proportion
        (`gateway.storage.batching.linger_following`), and its claims come in smaller batches
        against a fast core (`gateway.storage.worker.claim_batch_following`)."""
        self.timed_calls = 0
        """Response calls behind `typical_seconds` (0: nothing is known of the core yet)."""
        self._call_ids = itertools.count()
        self._outstanding: dict[int, float] = {}
        """When each response call still out was made (insertion order: oldest first)."""

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No connection cap (limit=0): how many calls are in flight is the projects'
            # `core_concurrency` (core_limits); a pool limit would cap it silently.
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=guarded_connector(limit=0)
            )
        return self._session

    async def create_response(self, req: CoreRequest) -> CoreResult:
        body: dict[str, Any] = {
            "model": req.model,
            "user": req.user,
            "input": req.input,
            "stream": False,
            "metadata": req.metadata,
        }
        if req.conversation:
            body["conversation"] = req.conversation
        elif req.previous_response_id:
            body["previous_response_id"] = req.previous_response_id
        url = f"{req.base_url.rstrip('/')}/v1/responses"
        call = next(self._call_ids)
        self._outstanding[call] = time.monotonic()
        try:
            result = await self._post(url, req.api_key, req.idempotency_key, lambda: {"json": body})
        finally:
            del self._outstanding[call]
        self._timed(result.latency_ms / 1000)
        return result

    def _timed(self, took: float) -> None:
        # Seeded by the first call: averaged up from 0, a core answering in seconds would look
        # fast for its first ~20 calls, i.e. through the first burst.
        first = self.timed_calls == 0
        self.typical_seconds += (1.0 if first else TYPICAL_WEIGHT) * (took - self.typical_seconds)
        self.timed_calls += 1

    def current_wait_seconds(self) -> float | None:
        """How long response calls take now: `typical_seconds`, or the age of the oldest call
        still out if that is longer (a core that turned slow shows here before its first slow
        answer); None while nothing is known (no call back, none out)."""
        oldest = next(iter(self._outstanding.values()), None)
        out_for = 0.0 if oldest is None else time.monotonic() - oldest
        if not self.timed_calls:
            return None if oldest is None else out_for
        return max(self.typical_seconds, out_for)

    async def transcribe(self, req: TranscriptionRequest) -> CoreResult:
        """`POST {core}/v1/audio/transcriptions` (multipart, OpenAI's shape): the transcript is
        the answer's `text`. Retried like a response; not counted in
        `gateway_core_requests_total` (a core without transcription answers 404, by design)."""

        def form() -> dict[str, Any]:  # a FormData is spent once sent: one per attempt
            data = aiohttp.FormData()
            data.add_field("file", req.audio, filename=req.filename, content_type=req.mime_type)
            data.add_field("model", req.model)
            data.add_field("response_format", "json")
            return {"data": data}

        url = f"{req.base_url.rstrip('/')}/v1/audio/transcriptions"
        return await self._post(url, req.api_key, req.idempotency_key, form, counted=False)

    async def _post(
        self,
        url: str,
        api_key: str | None,
        idempotency_key: str,
        payload: Callable[[], dict[str, Any]],
        *,
        counted: bool = True,
    ) -> CoreResult:
        """One call with the project's key, retried with the same headers on connection errors
        and 5xx; `payload` gives each attempt its body (`json=` or `data=`)."""
        request_id = f"gwreq_{uuid.uuid4().hex}"
        headers = {"X-Idempotency-Key": idempotency_key, "X-Request-ID": request_id}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        started = time.monotonic()
        result = CoreResult(header_request_id=request_id, latency_ms=0, status=None)
        for attempt in range(1, self.attempts + 1):
            result = await self._once(url, payload(), headers, request_id)
            if counted:
                self.metrics.core_requests.labels(str(result.status or "error")).inc()
            retryable = (result.status is None or result.status >= 500) and not result.unusable
            if not retryable or attempt == self.attempts:
                break
            await asyncio.sleep(retry_delay(attempt, self.backoff_base))
        result.latency_ms = int((time.monotonic() - started) * 1000)
        return result

    async def _once(
        self, url: str, sent: dict[str, Any], headers: dict[str, str], request_id: str
    ) -> CoreResult:
        try:
            async with self._http().post(url, headers=headers, **sent) as resp:
                self.core_build.note_headers(resp.headers)
                raw = await _read_capped(resp, self.max_response_bytes)
                if raw is None:
                    return CoreResult(
                        header_request_id=resp.headers.get("X-Request-ID") or request_id,
                        latency_ms=0,
                        status=resp.status,
                        error=f"core {resp.status}: answer larger than "
                        f"{self.max_response_bytes} bytes, not read",
                        unusable=True,
                    )
                payload: Any
                try:
                    payload = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    payload = {}
                return CoreResult(
                    header_request_id=resp.headers.get("X-Request-ID") or request_id,
                    latency_ms=0,
                    status=resp.status,
                    body=payload if isinstance(payload, dict) else {},
                    retry_after=_retry_after(resp.headers.get("Retry-After")),
                    error=None if resp.status == 200 else _error_text(payload, resp.status),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return CoreResult(
                header_request_id=request_id,
                latency_ms=0,
                status=None,
                error=f"core unreachable: {type(exc).__name__}: {exc}"[:500],
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` bytes (the rest unread)."""
    if (resp.content_length or 0) > limit:
        return None
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _error_text(payload: Any, status: int) -> str:
    """What the core said went wrong: the OpenAI `error.message`, else a `detail` (a string, or an
    object with a `message`), else a top-level `message`; with the reason when there is one."""
    message = ""
    if isinstance(payload, dict):
        error, detail = payload.get("error"), payload.get("detail")
        for value in (
            error.get("message") if isinstance(error, dict) else None,
            detail if isinstance(detail, str) else None,
            detail.get("message") if isinstance(detail, dict) else None,
            payload.get("message"),
        ):
            if isinstance(value, str) and value:
                message = value
                break
    reason = CoreResult("", 0, status, payload if isinstance(payload, dict) else {}).reason
    label = f"core {status}" + (f" {reason}" if reason else "")
    return f"{label}: {message}"[:500] if message else label
