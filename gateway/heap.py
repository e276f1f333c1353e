"""Keep Python's cyclic garbage collector off the long-lived heap and out of busy moments.

A full collection walks every tracked object; after start-up that is ~120,000 objects of imported
modules, models and clients, which takes 30-60 ms on this machine. Under load such a pause
stalls every webhook answer behind it (it was the tail of the acknowledgement latency). Objects
that live as long as the process are moved out of the collector's sight with `gc.freeze()` once
they exist: at start-up, and again when a channel adapter's library is first imported (adapters
load lazily). Reference counting still frees everything as before; only cycle detection skips
the frozen objects, and the frozen set is memory the process keeps anyway.

With thousands of turns waiting on a slow core the live heap is large again (their requests,
tasks and buffers), and CPython started a full collection every second or two of a burst, each
a 100-180 ms pause (measured with `gc.callbacks`). Full collections are therefore not left to
CPython's counters: `FullCollections` runs them when no request has come for a while
(`QUIET_S`), at most every `MIN_INTERVAL_S`, and at the latest every `MAX_INTERVAL_S` (garbage in
reference cycles that outlived the young generations waits for them; everything else is freed at
once as before). The young generations are still collected by CPython as before (a larger
first threshold made them rarer but each one longer: 40-80 ms pauses in a burst).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable

NEVER = 1_000_000_000
QUIET_S = 1.0
MIN_INTERVAL_S = 10.0
MAX_INTERVAL_S = 300.0


def freeze_long_lived() -> None:
    """Collect what is garbage now, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()


class RequestClock:
    """When the process last served a request (the web middleware tells it)."""

    def __init__(self) -> None:
        self._serving = 0
        self._last = float("-inf")

    def started(self) -> None:
        self._serving += 1

    def finished(self) -> None:
        self._serving -= 1
        self._last = time.monotonic()

    def quiet_for(self) -> float:
        """Seconds since the last request ended (0 while one is being served)."""
        return 0.0 if self._serving else time.monotonic() - self._last


REQUESTS = RequestClock()
"""The process's requests (one web app per process; tests that run several share it)."""


class FullCollections:
    """The full collection, when requests are not waiting (`quiet_for()`: seconds since the
    last request). While it runs, CPython starts none of its own; stopping hands them back."""

    def __init__(self, quiet_for: Callable[[], float]) -> None:
        self.quiet_for = quiet_for
        self._task: asyncio.Task[None] | None = None
        self._last = time.monotonic()
        self._cpython_threshold: int | None = None

    def start(self) -> None:
        if self._task is None:
            young, middle, self._cpython_threshold = gc.get_threshold()
            gc.set_threshold(young, middle, NEVER)
            self._task = asyncio.create_task(self._run_forever(), name="full-collections")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._cpython_threshold is not None:
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, self._cpython_threshold)
            self._cpython_threshold = None

    def due(self, now: float) -> bool:
        since = now - self._last
        return since >= MAX_INTERVAL_S or (since >= MIN_INTERVAL_S and self.quiet_for() >= QUIET_S)

    async def _run_forever(self) -> None:
        while True:
            await asyncio.sleep(QUIET_S / 4)
            now = time.monotonic()
            if self.due(now):
                gc.collect()
                self._last = time.monotonic()
