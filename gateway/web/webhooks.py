"""`POST /webhooks/{channel}/{account}`: verify, normalize, store, answer. Never waits on the core.

Order matters: unknown account (404) and bad signatures (401/403) are answered before anything is
parsed or written; the provider is acknowledged only after the inbox insert has committed.
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from channels import WEBHOOK_SEGMENTS
from gateway.errors import NotFound
from gateway.messages import InboundRequest, WebhookRejected
from gateway.runtime import Runtime
from gateway.schemas import NAME_PATTERN
from gateway.web import ingest
from gateway.web.errors import REQUEST_ID_KEY, error_response

log = structlog.get_logger("gateway.webhooks")
ACCOUNT_NAME = re.compile(NAME_PATTERN)


def add_routes(app: web.Application, runtime: Runtime) -> None:
    async def receive(request: web.Request) -> web.StreamResponse:
        channel = WEBHOOK_SEGMENTS.get(request.match_info.get("channel", "twilio"))
        account = request.match_info["account"]
        metrics = runtime.metrics.webhooks
        if channel is None:
            return error_response(404, "unknown_channel", "no such channel")
        if not ACCOUNT_NAME.fullmatch(account):
            metrics.labels(channel, "unknown_account").inc()
            return error_response(404, "unknown_account", "no such account")
        limit = runtime.settings.max_body_bytes
        if (request.content_length or 0) > limit:
            metrics.labels(channel, "too_large").inc()
            return error_response(413, "payload_too_large", f"body exceeds {limit} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body = b"x" * (limit + 1)
        if len(body) > limit:
            metrics.labels(channel, "too_large").inc()
            return error_response(413, "payload_too_large", f"body exceeds {limit} bytes")
        try:
            project, adapter = await runtime.directory.get(channel, account)
        except NotFound as exc:
            metrics.labels(channel, "unknown_account").inc()
            return error_response(404, "unknown_account", str(exc))
        except (SQLAlchemyError, OSError) as exc:
            return _storage_unavailable(channel, metrics, exc)
        inbound = _inbound(request, runtime, body)
        try:
            adapter.verify(inbound)
        except WebhookRejected as exc:
            metrics.labels(channel, "rejected_signature").inc()
            log.warning("webhook.rejected", channel=channel, account=account, code=exc.code)
            return error_response(exc.status, exc.code, exc.message)
        try:
            await ingest.store(runtime, project, adapter, inbound, request[REQUEST_ID_KEY])
        except WebhookRejected as exc:
            return error_response(exc.status, exc.code, exc.message)
        except (SQLAlchemyError, OSError) as exc:
            return _storage_unavailable(channel, metrics, exc)
        reply = adapter.webhook_reply()
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    async def handshake(request: web.Request) -> web.StreamResponse:
        """A provider checking the URL before it sends events (WhatsApp: `hub.challenge`)."""
        channel = WEBHOOK_SEGMENTS.get(request.match_info["channel"])
        account = request.match_info["account"]
        if channel is None:
            return error_response(404, "unknown_channel", "no such channel")
        metrics = runtime.metrics.webhooks
        if not ACCOUNT_NAME.fullmatch(account):
            metrics.labels(channel, "unknown_account").inc()
            return error_response(404, "unknown_account", "no such account")
        try:
            _, adapter = await runtime.directory.get(channel, account)
        except NotFound as exc:
            metrics.labels(channel, "unknown_account").inc()
            return error_response(404, "unknown_account", str(exc))
        except (SQLAlchemyError, OSError) as exc:
            return _storage_unavailable(channel, runtime.metrics.webhooks, exc)
        try:
            reply = adapter.handshake(_inbound(request, runtime, b""))
        except WebhookRejected as exc:
            runtime.metrics.webhooks.labels(channel, "rejected_signature").inc()
            return error_response(exc.status, exc.code, exc.message)
        return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)

    app.router.add_post("/webhooks/{channel}/{account}", receive)
    app.router.add_post("/webhooks/twilio/{account}/status", receive)
    app.router.add_get("/webhooks/{channel}/{account}", handshake)


def _inbound(request: web.Request, runtime: Runtime, body: bytes) -> InboundRequest:
    """The request as the provider addressed it: behind a proxy that rewrites host or scheme,
    `GATEWAY_PUBLIC_URL` + path + query is the URL the provider signed (Twilio)."""
    public = runtime.settings.public_url
    url = public.rstrip("/") + request.raw_path if public else str(request.url)
    return InboundRequest(
        method=request.method, url=url, headers=request.headers, query=request.query, body=body
    )


def _storage_unavailable(channel: str, metrics: Any, exc: BaseException) -> web.Response:
    """Nothing was stored, so nothing is acknowledged: the provider redelivers later."""
    metrics.labels(channel, "unavailable").inc()
    log.error("webhook.storage_unavailable", channel=channel, error=type(exc).__name__)
    return error_response(
        503,
        "storage_unavailable",
        "the gateway cannot store events right now; retry later",
        headers={"Retry-After": "5"},
    )
