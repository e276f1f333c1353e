"""The long-running processes: `serve` (web, and the loops unless --no-worker) and `worker`.

Start-up is checked before anything is announced: the database and its schema, the secret key,
the environment's project, then the port bind. Only then does `serve` say it is serving; any
failure before that is a `StartupError` (one line, `gateway.cli.startup`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading

import structlog
from aiohttp import web

from gateway.cli.common import err
from gateway.cli.startup import port_unavailable
from gateway.config import Settings
from gateway.errors import Invalid, StartupError
from gateway.heap import freeze_long_lived
from gateway.metrics import Metrics
from gateway.runtime import Runtime
from gateway.web import health
from gateway.web.app import create_app

SHUTDOWN_SECONDS = 15
SWITCH_INTERVAL_SECONDS = 0.0005

log = structlog.get_logger("gateway.serve")


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


class WorkerThread:
    """`serve`'s worker: the turn, send and webhook loops on a thread of their own, with their
    own event loop and runtime (database pool, core client), sharing the process's metrics.

    One event loop for both would make every acknowledgement wait behind the turns that happen
    to be ready at the same moment: with a thousand turns in flight, answers arrive by the
    hundred, and each costs a millisecond or two of Python (bench/README.md, "slow core").
    With the worker on its own thread the web loop gets the interpreter within the switch
    interval whenever a request is ready. Wake-ups cross over with `call_soon_threadsafe`."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runtime: Runtime | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="gateway-worker", daemon=True)

    def start(self, timeout: float = 60.0) -> None:
        """Returns once the loops run; raises what stopped them from starting."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise StartupError("the worker thread did not start within 60 s")
        if self._error is not None:
            raise self._error

    def wake(self, method: str) -> None:
        """From the web thread: call the worker runtime's `method` (`wake_worker`, ...)."""
        loop, runtime = self._loop, self._runtime
        if loop is not None and runtime is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(getattr(runtime, method))

    def stop(self) -> None:
        """Finish in-flight work (the runtime's grace), release the rest, end the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(SHUTDOWN_SECONDS * 3)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by start(), or logged when it came later
            if self._ready.is_set():
                log.exception("worker_thread.crashed")
            self._error = exc
            self._ready.set()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runtime = Runtime(self.settings, metrics=self.metrics)
        try:
            await runtime.prepare(apply_environment=False)
            runtime.start_loops()
            self._runtime = runtime
            self._ready.set()
            await self._stop.wait()
        finally:
            self._runtime = None
            await runtime.close(grace=SHUTDOWN_SECONDS)


async def serve(settings: Settings, host: str, port: int, *, run_worker: bool) -> None:
    runtime = await prepared_runtime(settings)
    try:
        sock = listening_socket(host, port, "PORT or --port")
    except BaseException:
        await runtime.close()
        raise
    worker: WorkerThread | None = None
    if run_worker and settings.worker_thread:
        # The web thread waits at most this long for the interpreter when a request is ready
        # (Python's default 5 ms would add up to that to each step of an acknowledgement).
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        worker = WorkerThread(settings, runtime.metrics)
        try:
            await asyncio.to_thread(worker.start)
        except BaseException:
            await runtime.close()
            raise
        runtime.remote_wake = worker.wake
    runner = web.AppRunner(
        create_app(runtime, run_worker=run_worker and worker is None),  # owns the runtime
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
        await web.SockSite(runner, sock).start()
        err.print(
            f"gateway serving on http://{host}:{port} "
            f"({'web + worker' if run_worker else 'web only'})"
        )
        await _stopped()
    finally:
        await runner.cleanup()  # no more webhooks; then the worker drains
        if worker is not None:
            await asyncio.to_thread(worker.stop)


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
        freeze_long_lived()
        await _stopped()
        err.print("worker draining...")
    finally:
        if runner is not None:
            await runner.cleanup()
        await runtime.close(grace=15)
