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

The C heap is trimmed too (`HeapTrim`). Python objects larger than 512 bytes (request and answer
bodies, socket reads, big dicts) come from the C allocator, and glibc gives freed memory back to
the system only from the top of its heap. Under steady load the free space in the middle kept
growing: at 200 turns/s `serve` went from 104 to 122 MB in five minutes while the memory in use
stayed at 25.6 MB (mallinfo2). `malloc_trim(0)` every `TRIM_INTERVAL_S` returns those free
pages (0.1-1.4 ms a call with a 35 MB heap): the same run stays at 107-108 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import time
from collections.abc import Callable

NEVER = 1_000_000_000
QUIET_S = 1.0
MIN_INTERVAL_S = 10.0
MAX_INTERVAL_S = 300.0
TRIM_INTERVAL_S = 10.0


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
        await _cancelled(self._task)
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


def malloc_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)`, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class HeapTrim:
    """Gives the C heap's free pages back to the system every `interval` seconds (never for 0,
    `GATEWAY_HEAP_TRIM_SECONDS`, nor where the C library cannot: `malloc_trim`)."""

    def __init__(
        self, trim: Callable[[], object] | None = None, interval: float | None = None
    ) -> None:
        self.trim = trim if trim is not None else malloc_trim()
        self.interval = TRIM_INTERVAL_S if interval is None else interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.trim is not None and self.interval > 0:
            self._task = asyncio.create_task(self._run_forever(), name="heap-trim")

    async def stop(self) -> None:
        await _cancelled(self._task)
        self._task = None

    async def _run_forever(self) -> None:
        assert self.trim is not None
        while True:
            await asyncio.sleep(self.interval)
            self.trim()


async def _cancelled(task: asyncio.Task[None] | None) -> None:
    """Cancel a housekeeping task (if any) and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
