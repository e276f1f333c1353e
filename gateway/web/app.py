"""`create_app`: the one aiohttp application factory. Lifecycle lives in aiohttp hooks."""

from __future__ import annotations

from aiohttp import web

from gateway.runtime import Runtime
from gateway.web import admin, core_events, health, metrics_port, usage_events, webhooks
from gateway.web.errors import request_context

RUNTIME_KEY = web.AppKey("runtime", Runtime)


def create_app(runtime: Runtime, *, run_worker: bool = True) -> web.Application:
    """The runtime must be prepared (schema checked); the app owns it from here and closes it."""
    app = web.Application(
        middlewares=[request_context],
        # A little above the webhook limit so the handler can answer 413 in the JSON shape.
        client_max_size=runtime.settings.max_body_bytes + 1,
    )
    app[RUNTIME_KEY] = runtime
    core_events.add_routes(app, runtime)  # before /webhooks/{channel}/{account}
    webhooks.add_routes(app, runtime)
    apart = runtime.settings.metrics_port
    health.add_routes(app, runtime, metrics=apart is None)
    if apart is not None:
        metrics_port.serve_metrics_apart(app, runtime, runtime.settings.metrics_host, apart)
    admin.add_routes(app, runtime)
    usage_events.add_routes(app, runtime)

    async def on_startup(_: web.Application) -> None:
        if run_worker:
            runtime.start_loops()
        runtime.settle_heap()

    async def on_shutdown(_: web.Application) -> None:
        await runtime.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_shutdown)
    return app
