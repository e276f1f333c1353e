"""Liveness, readiness (a database round trip) and Prometheus metrics.

Readiness also names the builds (the gateway's, and the core's as last reported), so whoever
polls it sees what is deployed; it never waits for the core: at most once a minute, while no
answer has said it, a background probe asks the core (gateway/version.py).
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from gateway.runtime import Runtime
from gateway.version import core_report, gateway_build, probe_core

log = structlog.get_logger("gateway.health")


def add_routes(app: web.Application, runtime: Runtime) -> None:
    own = gateway_build()  # read once here (git may run), never while answering a request
    runtime.metrics.build_info.labels(own["version"], own["commit"] or "").set(1)
    builds = runtime.core.core_build
    probes: set[asyncio.Task[None]] = set()

    async def probe() -> None:
        builds.note(await probe_core(runtime.settings.core_base_url))

    def versions() -> dict[str, object]:
        if builds.probe_due():
            task = asyncio.create_task(probe(), name="core-build-probe")
            probes.add(task)
            task.add_done_callback(probes.discard)
        return {"gateway": gateway_build(), "core": core_report(builds.latest)}

    async def stop_probes(_: web.Application) -> None:
        for task in list(probes):
            task.cancel()
        await asyncio.gather(*probes, return_exceptions=True)

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        try:
            await runtime.db.ping()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("health.not_ready", error=type(exc).__name__)
            return web.json_response(
                {"status": "unavailable", "database": "unreachable", **versions()}, status=503
            )
        return web.json_response({"status": "ok", "database": "ok", **versions()})

    async def metrics(_: web.Request) -> web.Response:
        try:
            await runtime.refresh_gauges()
        except (SQLAlchemyError, OSError):
            log.warning("metrics.gauges_stale")
        return web.Response(
            body=runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.on_cleanup.append(stop_probes)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/metrics", metrics)
