"""`/metrics` on a port of its own (GATEWAY_METRICS_PORT): scraped from inside, never public.

`serve` then answers /metrics only there; the public port keeps webhooks, health and the admin API.
"""

from __future__ import annotations

from aiohttp import web

from gateway.runtime import Runtime
from gateway.web import health


def serve_metrics_apart(app: web.Application, runtime: Runtime, host: str, port: int) -> None:
    """Start a second listener with `app` and stop it when `app` shuts down."""
    runners: list[web.AppRunner] = []

    async def start(_: web.Application) -> None:
        side = web.Application()
        health.add_metrics_route(side, runtime)
        runner = web.AppRunner(side, access_log=None)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, host, port).start()

    async def stop(_: web.Application) -> None:
        while runners:
            await runners.pop().cleanup()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
