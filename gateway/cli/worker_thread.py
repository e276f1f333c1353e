"""`serve`'s worker on a thread of its own, and how it shares the interpreter with the web.

One event loop for both would make every acknowledgement wait behind the turns that happen to
be ready at the same moment: with a thousand turns in flight, answers arrive by the hundred and
each costs a millisecond or two of Python (bench/README.md, "A core that takes seconds"). On a
thread of its own, the worker's loop runs beside the web's, and the web thread gets the
interpreter within the switch interval whenever a request is ready.

The other way round needs care too: the web thread, ingesting a flood of webhooks, would keep
the worker from starting the turns it has already stored (CPython hands the interpreter to
whichever thread is running Python). So while the worker's loop is behind, the web thread,
after each request that handed it work, pauses briefly, off the interpreter: ingest slows
down to the pace the turns start at, as it did on one loop, and the webhooks' own answers
are not delayed (the pause comes after the response is written).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time

import structlog

from gateway.config import Settings
from gateway.errors import StartupError
from gateway.metrics import Metrics
from gateway.runtime import Runtime

log = structlog.get_logger("gateway.serve")

SWITCH_INTERVAL_SECONDS = 0.0005
"""How long a thread with work waits for the interpreter before it asks for it (Python's
default, 5 ms, would add up to that to each step of an acknowledgement)."""
LAG_PROBE_SECONDS = 0.005
BEHIND_SECONDS = 0.010
"""The worker's loop is behind when a 5 ms sleep of its own overshoots by this much..."""
BEHIND_HOLD_SECONDS = 0.05
"""...and counts as behind this long after (its probe reports only once the loop is free)."""
YIELD_SECONDS = 0.001
"""The web thread's pause, per request that handed work over, while the worker is behind."""
STOP_SECONDS = 45.0


async def start_beside(runtime: Runtime, *, grace: float) -> WorkerThread:
    """Start the worker of `runtime`'s web (same settings and metrics) on a thread of its own;
    the web's wake-ups go to it from now on. Raises what kept it from starting."""
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)  # process-wide
    worker = WorkerThread(runtime.settings, runtime.metrics, grace=grace)
    await asyncio.to_thread(worker.start)
    runtime.remote_wake = worker.wake
    return worker


class WorkerThread:
    """The turn, send and webhook loops on a thread of their own, with their own event loop and
    runtime (database pool, core client), sharing the process's metrics. Wake-ups from the web
    cross over with `call_soon_threadsafe`, at most one of each kind pending at a time."""

    def __init__(self, settings: Settings, metrics: Metrics, *, grace: float) -> None:
        self.settings, self.metrics, self.grace = settings, metrics, grace
        self.lag = 0.0
        """How late the worker loop's last probe woke (seconds)."""
        self._behind_until = float("-inf")
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runtime: Runtime | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._pending: set[str] = set()
        self._thread = threading.Thread(target=self._main, name="gateway-worker", daemon=True)

    @property
    def behind(self) -> bool:
        """Read by the web thread: the worker's loop ran late just now."""
        return time.monotonic() < self._behind_until

    def start(self, timeout: float = 60.0) -> None:
        """Returns once the loops run; raises what stopped them from starting."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise StartupError("the worker thread did not start within 60 s")
        if self._error is not None:
            raise self._error

    def wake(self, method: str) -> None:
        """From the web thread: have the worker runtime call `method` (`wake_worker`, ...)."""
        self._give_way()
        loop, runtime = self._loop, self._runtime
        if method in self._pending or loop is None or runtime is None or loop.is_closed():
            return  # one wake-up of a kind is enough: it runs after this one's data is written
        self._pending.add(method)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._call, runtime, method)

    def _call(self, runtime: Runtime, method: str) -> None:
        self._pending.discard(method)
        getattr(runtime, method)()

    def _give_way(self) -> None:
        """While the worker is behind: a pause of the web loop, off the interpreter, once the
        current request is answered (`call_soon` runs it after this step of the loop)."""
        if not self.behind:
            return
        with contextlib.suppress(RuntimeError):  # not called from the web loop: no pause
            asyncio.get_running_loop().call_soon(time.sleep, YIELD_SECONDS)

    def stop(self) -> None:
        """Finish in-flight work (the runtime's grace), release the rest, end the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(STOP_SECONDS)

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
        probe: asyncio.Task[None] | None = None
        try:
            await runtime.prepare(apply_environment=False)
            runtime.start_loops()
            self._runtime = runtime
            probe = asyncio.create_task(self._probe_lag(), name="worker-lag-probe")
            self._ready.set()
            await self._stop.wait()
        finally:
            self._runtime = None
            if probe is not None:
                probe.cancel()
            self.lag, self._behind_until = 0.0, float("-inf")
            await runtime.close(grace=self.grace)

    async def _probe_lag(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            now = time.monotonic()
            self.lag = now - started - LAG_PROBE_SECONDS
            if self.lag >= BEHIND_SECONDS:
                self._behind_until = now + BEHIND_HOLD_SECONDS
