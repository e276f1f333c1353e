"""`POST /webhooks/core/{project}`: the core's signed approval lifecycle events.

A missing signature is a 401 and a wrong or too old one a 403, both before anything is parsed or
written; an event id already seen is acknowledged (200) and changes nothing; a body that is not an
event is a 400; a project without core approvals configured is a 404.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from approvals.signing import HEADER
from gateway.runtime import Runtime
from gateway.web.errors import error_response

log = structlog.get_logger("gateway.core_events")


def add_routes(app: web.Application, runtime: Runtime) -> None:
    async def receive(request: web.Request) -> web.StreamResponse:
        limit = runtime.settings.max_body_bytes
        if (request.content_length or 0) > limit:
            return error_response(413, "payload_too_large", f"body exceeds {limit} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, "payload_too_large", f"body exceeds {limit} bytes")
        if len(body) > limit:
            return error_response(413, "payload_too_large", f"body exceeds {limit} bytes")
        try:
            answer = await runtime.core_approvals.receive_event(
                request.match_info["project"], body, request.headers.get(HEADER, "")
            )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("core_events.storage_unavailable", error=str(exc))
            return error_response(503, "storage_unavailable", "try again later")
        if answer.code is not None:
            return error_response(answer.status, answer.code, answer.message)
        runtime.wake_sender()
        return web.json_response({"status": answer.message}, status=answer.status)

    app.router.add_post("/webhooks/core/{project}", receive)
