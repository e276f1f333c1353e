"""Liveness, readiness (a database round trip) and Prometheus metrics."""

from __future__ import annotations

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from gateway.runtime import Runtime

log = structlog.get_logger("gateway.health")


def add_routes(app: web.Application, runtime: Runtime) -> None:
    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        try:
            await runtime.db.ping()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("health.not_ready", error=type(exc).__name__)
            return web.json_response(
                {"status": "unavailable", "database": "unreachable"}, status=503
            )
        return web.json_response({"status": "ok", "database": "ok"})

    async def metrics(_: web.Request) -> web.Response:
        try:
            await runtime.refresh_gauges()
        except (SQLAlchemyError, OSError):
            log.warning("metrics.gauges_stale")
        return web.Response(
            body=runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/metrics", metrics)
