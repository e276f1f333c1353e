"""Client for the responses core: `POST {core}/v1/responses`.

Retries happen only where a repeat is safe and useful: connection errors, timeouts and 5xx, always
with the same `X-Idempotency-Key`, so the core answers a repeated turn with the same response.
Everything else is classified once and handed back to the pipeline.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from gateway.metrics import Metrics
from gateway.storage.backoff import retry_delay


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


@dataclass
class CoreResult:
    request_id: str
    latency_ms: int
    status: int | None
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def response_id(self) -> str | None:
        return self.body.get("id")

    @property
    def trace_id(self) -> str | None:
        meta = self.body.get("metadata") or {}
        return meta.get("general_augment_trace_id") or meta.get("trace_id")

    @property
    def text(self) -> str:
        """Every `output_text` part of the `message` items, joined (the SDK's `output_text`)."""
        parts = [
            part.get("text", "")
            for item in self.body.get("output") or []
            if isinstance(item, dict) and item.get("type") == "message"
            for part in item.get("content") or []
            if isinstance(part, dict) and part.get("type") == "output_text"
        ]
        return "".join(parts)

    @property
    def approval_requests(self) -> list[dict[str, Any]]:
        """The `mcp_approval_request` output items (each needs a human decision)."""
        return [
            item
            for item in self.body.get("output") or []
            if isinstance(item, dict)
            and item.get("type") == "mcp_approval_request"
            and isinstance(item.get("id"), str)
            and item["id"]
        ]

    @property
    def cost(self) -> float | None:
        usage = self.body.get("usage") or {}
        value = usage.get("cost", (self.body.get("metadata") or {}).get("cost"))
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None

    @property
    def previous_response_missing(self) -> bool:
        error = self.body.get("error") or {}
        return self.status in (400, 404) and (
            error.get("param") == "previous_response_id"
            or error.get("code") == "previous_response_not_found"
        )


class CoreClient:
    def __init__(
        self, metrics: Metrics, *, timeout: float, attempts: int, backoff_base: float = 0.5
    ) -> None:
        self.metrics = metrics
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=5)
        self.attempts = attempts
        self.backoff_base = backoff_base
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, connector=aiohttp.TCPConnector(limit=256)
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
        if req.previous_response_id:
            body["previous_response_id"] = req.previous_response_id
        request_id = f"gwreq_{uuid.uuid4().hex}"
        headers = {"X-Idempotency-Key": req.idempotency_key, "X-Request-ID": request_id}
        if req.api_key:
            headers["Authorization"] = f"Bearer {req.api_key}"
        url = f"{req.base_url.rstrip('/')}/v1/responses"
        started = time.monotonic()
        result = CoreResult(request_id=request_id, latency_ms=0, status=None)
        for attempt in range(1, self.attempts + 1):
            result = await self._once(url, body, headers, request_id)
            self.metrics.core_requests.labels(str(result.status or "error")).inc()
            retryable = result.status is None or result.status >= 500
            if not retryable or attempt == self.attempts:
                break
            await asyncio.sleep(retry_delay(attempt, self.backoff_base))
        result.latency_ms = int((time.monotonic() - started) * 1000)
        return result

    async def _once(
        self, url: str, body: dict[str, Any], headers: dict[str, str], request_id: str
    ) -> CoreResult:
        try:
            async with self._http().post(url, json=body, headers=headers) as resp:
                payload: Any
                try:
                    payload = await resp.json(content_type=None)
                except (aiohttp.ContentTypeError, ValueError):
                    payload = {}
                return CoreResult(
                    request_id=resp.headers.get("X-Request-ID", request_id),
                    latency_ms=0,
                    status=resp.status,
                    body=payload if isinstance(payload, dict) else {},
                    retry_after=_retry_after(resp.headers.get("Retry-After")),
                    error=None if resp.status == 200 else _error_text(payload, resp.status),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            return CoreResult(
                request_id=request_id,
                latency_ms=0,
                status=None,
                error=f"core unreachable: {type(exc).__name__}: {exc}"[:500],
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _error_text(payload: Any, status: int) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return f"core {status}: {payload['error'].get('message', '')}"[:500]
    return f"core {status}"
