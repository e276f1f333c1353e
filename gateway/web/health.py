"""Liveness, readiness (a database round trip) and Prometheus metrics (behind a bearer token
when GATEWAY_METRICS_TOKEN is set; on a port of their own when GATEWAY_METRICS_PORT is).

Readiness also names the builds (the gateway's, and the core's as last reported), so whoever
polls it sees what is deployed; it never waits for the core: at most once a minute, while no
answer has said it, a background probe asks the core (gateway/version.py).
"""

from __future__ import annotations

import asyncio
import hmac

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from gateway.runtime import Runtime
from gateway.version import core_report, gateway_build, probe_core
from gateway.web.errors import error_response

log = structlog.get_logger("gateway.health")


def add_routes(app: web.Application, runtime: Runtime, *, metrics: bool = True) -> None:
    """Health routes, and `/metrics` unless it is served apart (GATEWAY_METRICS_PORT)."""
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

    app.on_cleanup.append(stop_probes)
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", ready)
    if metrics:
        add_metrics_route(app, runtime)


def add_metrics_route(app: web.Application, runtime: Runtime) -> None:
    """`GET /metrics`, behind `Authorization: Bearer <GATEWAY_METRICS_TOKEN>` when that is set."""
    secret = runtime.settings.metrics_token
    token = secret.get_secret_value().encode() if secret is not None else b""

    async def metrics(request: web.Request) -> web.Response:
        if token and not _bearer_matches(request, token):
            log.warning("metrics.unauthorized", client=request.remote)
            return error_response(
                401,
                "unauthorized",
                "send Authorization: Bearer <GATEWAY_METRICS_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            await runtime.refresh_gauges()
        except (SQLAlchemyError, OSError):
            log.warning("metrics.gauges_stale")
        return web.Response(
            body=runtime.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.router.add_get("/metrics", metrics)


def _bearer_matches(request: web.Request, token: bytes) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Compared in constant time, and always compared (no early answer for a wrong scheme).
    matches = hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), token)
    return matches and scheme.lower() == "bearer"
