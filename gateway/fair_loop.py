"""The event loop of `gateway serve`: web requests first, the worker in bounded slices.

One `serve` process runs the webhooks and the worker on one asyncio loop. A plain loop runs
every ready callback in arrival order, so with thousands of turns in flight (core answers,
replies, settles arriving all the time) one iteration takes tens of milliseconds, and a webhook
acknowledgement, which needs several iterations (its request, its insert's answer, the tasks
woken in between), waits for all of each of them.

This loop keeps two ready queues. Callbacks whose context was marked with `serve_first` (the
HTTP server's: every connection, request handler and task it starts inherits the mark) run
first; the rest (the worker's) run after them for `REST_SHARE` times as long as the web's took
in the same iteration, or `MIN_SLICE_S`, whichever is longer; what is left of the worker's
waits for the next iteration, after the next I/O poll. While the web is quiet, then, a
webhook's next step waits behind at most one short slice of the worker's work; under a flood
of webhooks the worker still gets up to six sevenths of the loop (as much as it has ready), so
turns keep starting; and the worker has the whole loop when no request is in.

During the worker's slice the loop also peeks at its sockets (`PEEK_S`): a web socket that
became ready meanwhile (a request arrived, the database answered a request's insert) has its
callback run next instead of after the slice and the next poll, so a webhook's every I/O step
waits behind at most one of the worker's callbacks. (The webhooks' database connections count as
the web's: `gateway.storage.db.Database.ingest` opens them from the web's requests.)

As on a plain loop, what the worker's callbacks schedule waits for the next iteration. What the
web's schedule may follow on in the same one (steps that need no I/O: a future resolved, the
task waiting on it woken), at most `FOLLOW_ON` per ready callback and only while the web has
used less than `FOLLOW_ON_S` of the iteration, so a flood of requests waits like everything else.

Only the order of ready callbacks changes: each queue stays first in, first out, and nothing
else of asyncio does. It relies on `BaseEventLoop` keeping its ready callbacks in `_ready`,
counting them with `len()` once per iteration and taking them with `popleft()` (CPython 3.11
to 3.13 do; tests/test_fair_loop.py checks the behaviour on the Python it runs on); on a loop
without a `_ready` deque, `new_event_loop` returns the plain loop. The peek reads the
`EpollSelector`'s epoll object and its `_fd_to_key` map, as its own `select()` does; with any
other selector the loop does not peek.
"""

from __future__ import annotations

import asyncio
import contextvars
import select
import selectors
import time
from collections import deque
from typing import Any

MIN_SLICE_S = 0.002
"""The worker's least time per iteration while it has work: polling I/O between slices costs
little, and a webhook's next step is never far off."""

REST_SHARE = 6.0
"""While both have work, the worker runs up to this many times as long as the web per iteration.
Slow-core benchmark, reply p99 beyond the core's delay: 0.4-1.0 s with 1 (half each: a webhook
flood held back the turns it stored), 0.39-0.48 s with 3, 0.30-0.36 s with 6, 0.24-0.32 s on a
plain loop."""

FOLLOW_ON = 4
"""How many callbacks each of the web's ready callbacks may schedule that still run in the same
iteration (at most)."""

FOLLOW_ON_S = 0.002
"""While the web has used less than this of an iteration, its follow-on callbacks run in it."""

PEEK_S = 0.0005
"""During the worker's slice, at most this often, the loop's selector is asked (without
waiting) whether any of the web's sockets became ready; if so, their callbacks run next, before
the rest of the slice. Without it a request's every I/O step (its arrival, each database answer
it waits for) waited behind the slice then running: ~1 ms at the median, more at the tail."""

PEEK_EVENTS = 64
"""Ready sockets one peek looks at, at most (the kernel hands out the rest in later ones)."""

_SERVE_FIRST: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "gateway_serve_first", default=False
)

_NONE, _FIRST, _REST = 0, 1, 2
_NOT_WRITE = ~getattr(select, "EPOLLOUT", 0)
_NOT_READ = ~getattr(select, "EPOLLIN", 0)
"""As `selectors.EpollSelector` reads epoll's masks: anything but EPOLLOUT (EPOLLIN, an error,
a hang-up) wakes the reader, anything but EPOLLIN the writer."""


def serve_first() -> None:
    """Marks the current context: callbacks and tasks started from it from now on go first."""
    _SERVE_FIRST.set(True)


class _FairReady:
    """Stands in for the loop's `_ready` deque: the loop appends handles (from any thread, for
    `call_soon_threadsafe`), takes `len()` once per iteration and then calls `popleft()` that
    many times, passing over cancelled handles."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._first: deque[asyncio.Handle] = deque()
        self._rest: deque[asyncio.Handle] = deque()
        self._skip = asyncio.Handle(lambda: None, (), loop)
        self._skip.cancel()  # the loop passes over it: "nothing more in this iteration"
        self._last = 0.0
        self._running = _NONE
        self._first_spent = self._rest_spent = 0.0
        self._first_todo = self._rest_todo = 0
        selector = getattr(loop, "_selector", None)
        fd_to_key = getattr(selector, "_fd_to_key", None)
        epoll = isinstance(selector, selectors.EpollSelector) and isinstance(fd_to_key, dict)
        self._epoll: Any = getattr(selector, "_selector", None) if epoll else None
        """The selector's own epoll object (Linux): peeked at during worker slices (none where
        the selector does not keep it as CPython 3.11-3.13 do: no peeking)."""
        self._fd_to_key: Any = fd_to_key
        self._last_peek = 0.0
        self._peeked: set[asyncio.Handle] = set()
        """Web handles a peek queued that have not run yet: the loop's own poll may report
        their sockets again meanwhile, and a handle must not be queued twice."""

    def append(self, handle: asyncio.Handle) -> None:
        context: contextvars.Context = handle._context  # type: ignore[attr-defined]
        if context.get(_SERVE_FIRST, False):
            if self._peeked and handle in self._peeked:
                return  # already queued by a peek
            self._first.append(handle)
        else:
            self._rest.append(handle)

    def _peek(self) -> None:
        """Queue the web's callbacks for sockets that are ready now (readers and writers the
        loop registered), leaving everything else to the loop's next poll."""
        try:
            ready = self._epoll.poll(0, PEEK_EVENTS)
        except (OSError, ValueError):  # closed selector: the loop is shutting down
            return
        for fd, mask in ready:
            key = self._fd_to_key.get(fd)
            if key is None:
                continue
            reader, writer = key.data
            for handle, wanted in ((reader, _NOT_WRITE), (writer, _NOT_READ)):
                if (
                    handle is not None
                    and mask & wanted
                    and not handle._cancelled
                    and handle._context.get(_SERVE_FIRST, False)
                    and handle not in self._peeked
                ):
                    self._peeked.add(handle)
                    self._first.append(handle)
                    self._first_todo += 1

    def __bool__(self) -> bool:
        return bool(self._first) or bool(self._rest)

    def __len__(self) -> int:
        """Called once per iteration, just before its callbacks run: a new slice begins. The
        count leaves room for the web's follow-on callbacks; calls beyond what is due answer a
        cancelled handle, which the loop passes over."""
        self._last = self._last_peek = time.perf_counter()
        self._running = _NONE
        self._first_spent = self._rest_spent = 0.0
        self._first_todo, self._rest_todo = len(self._first), len(self._rest)
        return self._first_todo * (1 + FOLLOW_ON) + self._rest_todo

    def popleft(self) -> asyncio.Handle:
        now = time.perf_counter()
        if self._running == _FIRST:
            self._first_spent += now - self._last
        elif self._running == _REST:
            self._rest_spent += now - self._last
        self._last = now
        if (
            self._rest_todo
            and not self._first
            and self._epoll is not None
            and now - self._last_peek >= PEEK_S
        ):
            self._last_peek = now
            self._peek()
        if self._first and (self._first_todo or self._first_spent < FOLLOW_ON_S):
            self._first_todo = max(0, self._first_todo - 1)
            self._running = _FIRST
            handle = self._first.popleft()
            if self._peeked:
                self._peeked.discard(handle)
            return handle
        if self._rest_todo and self._rest_spent < max(MIN_SLICE_S, REST_SHARE * self._first_spent):
            self._rest_todo -= 1
            self._running = _REST
            return self._rest.popleft()
        self._running = _NONE
        return self._skip

    def clear(self) -> None:
        self._first.clear()
        self._rest.clear()
        self._peeked.clear()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A loop that runs callbacks of `serve_first` contexts first (the plain loop if this
    Python's loop does not keep its ready callbacks where `_FairReady` expects them)."""
    loop = asyncio.new_event_loop()
    ready: Any = getattr(loop, "_ready", None)
    if isinstance(ready, deque) and not ready:
        loop._ready = _FairReady(loop)  # type: ignore[attr-defined]
    return loop


def is_fair(loop: asyncio.AbstractEventLoop) -> bool:
    return isinstance(getattr(loop, "_ready", None), _FairReady)


__all__ = ["FOLLOW_ON", "MIN_SLICE_S", "REST_SHARE", "is_fair", "new_event_loop", "serve_first"]
