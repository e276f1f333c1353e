"""`POST /webhooks/core/{project}/usage/{token}`: the core's `usage.threshold` signals.

The core sends them unsigned, so the path is the credential: a wrong project or token is a 404
(the same answer as a project that does not exist) and writes nothing. A body naming another core
project (`project_id` against the project's core project id) is a 403; a body that is not the
event is a 400. An accepted signal is kept in the audit log, counted in
`gateway_core_usage_signals_total`, logged as `core.usage_threshold` and answered 204.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, date, datetime
from typing import Annotated, Literal

import structlog
from aiohttp import web
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from gateway.runtime import Runtime
from gateway.storage import usage
from gateway.web.errors import error_response

log = structlog.get_logger("gateway.usage")
Count = Annotated[int | None, Field(None, ge=0, le=2**53, strict=True)]


class UsageThreshold(BaseModel):
    """The event's body; fields the core may add later are ignored. Numbers are JSON integers
    (strict: `true` is not a threshold)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event: Literal["usage.threshold"] = Field(validation_alias=AliasChoices("event", "type"))
    project_id: str = Field(min_length=1, max_length=128)
    threshold: int = Field(ge=1, le=100, strict=True)
    used: Count = None
    limit: Count = None
    day: date | None = Field(None, validation_alias="date")
    """The core's day the limit counts; any `period` (free text, e.g. "day") is ignored."""


def add_routes(app: web.Application, runtime: Runtime) -> None:
    async def receive(request: web.Request) -> web.Response:
        name, token = request.match_info["project"], request.match_info["token"]
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, "payload_too_large", "body too large")
        try:
            async with runtime.db.session() as session, session.begin():
                project = await usage.project_for(session, name, token)
                if project is None:
                    return error_response(404, "not_found", "not found")
                try:
                    event = UsageThreshold.model_validate(json.loads(body))
                except (ValueError, RecursionError, ValidationError):  # JSON, UTF-8, shape
                    return error_response(
                        400, "malformed", "expected a usage.threshold event (docs/operations.md)"
                    )
                expected = project.genaug_project_id
                if expected is not None and not hmac.compare_digest(
                    expected.encode(), event.project_id.encode("utf-8", "replace")
                ):
                    log.warning("core.usage_threshold_refused", project=name, reason="project_id")
                    return error_response(
                        403, "wrong_project", "project_id is not this project's core project"
                    )
                now = datetime.now(UTC)
                signal = usage.UsageSignal(
                    threshold=event.threshold,
                    used=event.used,
                    limit=event.limit,
                    day=event.day or now.date(),
                    received_at=now,
                )
                usage.record(session, project, signal)
        except (SQLAlchemyError, OSError) as exc:
            log.error("core.usage_threshold_unstored", project=name, error=type(exc).__name__)
            return error_response(503, "storage_unavailable", "retry later")
        runtime.metrics.core_usage_signals.labels(str(signal.threshold)).inc()
        log.warning(
            "core.usage_threshold",
            project=name,
            threshold=signal.threshold,
            used=signal.used,
            limit=signal.limit,
            date=signal.day.isoformat(),
        )
        return web.Response(status=204)

    app.router.add_post("/webhooks/core/{project}/usage/{token}", receive)
