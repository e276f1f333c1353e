"""JSON errors and request ids for every route; nothing a client sends yields a stack trace."""

from __future__ import annotations

import random
import re
from typing import Any

import structlog
from aiohttp import web

from gateway.heap import REQUESTS

log = structlog.get_logger("gateway.web")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
REQUEST_ID_KEY = web.RequestKey("request_id", str)


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return web.json_response({"error": body}, status=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


_ID_BITS = random.Random()
"""A generator of its own: request ids never disturb (or depend on) the global `random` state."""


def _new_request_id() -> str:
    """128 random bits, not a UUID from the OS's entropy pool: a correlation id needs no secrecy,
    and `uuid4()` cost a system call per request."""
    return f"req_{_ID_BITS.getrandbits(128):032x}"


@web.middleware
async def request_context(request: web.Request, handler: Any) -> web.StreamResponse:
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _REQUEST_ID.match(given) else _new_request_id()
    request[REQUEST_ID_KEY] = request_id
    structlog.contextvars.bind_contextvars(request_id=request_id)
    REQUESTS.started()  # full collections wait for a quiet moment (gateway.heap)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "http_error")
        response = error_response(exc.status, code, exc.reason or code)
    except Exception:
        log.exception("http.unhandled", path=request.path)
        response = error_response(
            500, "internal_error", f"internal error; reference {request_id} in the gateway logs"
        )
    finally:
        REQUESTS.finished()
        structlog.contextvars.unbind_contextvars("request_id")
    response.headers["X-Request-ID"] = request_id
    return response
