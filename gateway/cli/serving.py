"""The long-running processes: `serve` (web, and the loops unless --no-worker) and `worker`.

Start-up is checked before anything is announced: the database and its schema, the secret key,
the environment's project, then the port bind. Only then does `serve` say it is serving; any
failure before that is a `StartupError` (one line, `gateway.cli.startup`).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

from aiohttp import web

from gateway import fair_loop
from gateway.cli.startup import port_unavailable
from gateway.config import Settings
from gateway.errors import Invalid, StartupError
from gateway.runtime import Runtime
from gateway.web import health
from gateway.web.app import create_app

SHUTDOWN_SECONDS = 15


async def prepared_runtime(settings: Settings) -> Runtime:
    """A runtime whose database is reachable and current and whose environment is applied."""
    runtime = Runtime(settings)  # a missing or unusable secret key raises here
    try:
        await runtime.prepare()
    except Invalid as exc:  # a malformed channel variable (say, TWILIO_ACCOUNT_SID)
        await runtime.close()
        raise StartupError(f"{exc}: fix the variable (docs/operations.md#configuration)") from exc
    except BaseException:
        await runtime.close()
        raise
    return runtime


async def _stopped() -> None:
    """Until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def listening_socket(host: str, port: int, setting: str) -> socket.socket:
    """Bound before the app starts its loops, so a taken port stops the start cleanly."""
    try:
        return socket.create_server((host, port), backlog=1024)
    except OSError as exc:
        raise port_unavailable(exc, host, port, setting) from exc


async def serve(settings: Settings, host: str, port: int, *, run_worker: bool) -> None:
    runtime = await prepared_runtime(settings)
    try:
        sock = listening_socket(host, port, "PORT or --port")
    except BaseException:
        await runtime.close()
        raise
    runner = web.AppRunner(
        create_app(runtime, run_worker=run_worker),  # owns the runtime from here
        access_log=None,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    try:
        try:
            await runner.setup()  # starts the loops, binds GATEWAY_METRICS_PORT when set
        except OSError as exc:
            raise port_unavailable(
                exc, settings.metrics_host, settings.metrics_port or 0, "GATEWAY_METRICS_PORT"
            ) from exc
        # The loops started above; what the HTTP server starts from here on goes first.
        fair_loop.serve_first()
        await web.SockSite(runner, sock).start()
        print(
            f"gateway serving on http://{host}:{port} "
            f"({'web + worker' if run_worker else 'web only'})",
            file=sys.stderr,
        )
        await _stopped()
    finally:
        await runner.cleanup()


async def work(settings: Settings, metrics_host: str, metrics_port: int | None) -> None:
    runtime = await prepared_runtime(settings)
    runner: web.AppRunner | None = None
    try:
        if metrics_port is not None:  # the worker's own counters (turns, sends, core calls)
            sock = listening_socket(
                metrics_host, metrics_port, "GATEWAY_METRICS_PORT or --metrics-port"
            )
            app = web.Application()
            health.add_routes(app, runtime)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
        runtime.start_loops()
        runtime.settle_heap()
        await _stopped()
        print("worker draining...", file=sys.stderr)
    finally:
        if runner is not None:
            await runner.cleanup()
        await runtime.close(grace=15)
