"""How many calls a project may have at the core at once, from this process.

The ceiling is the project's `core_concurrency`. A 429 that limits the whole project (the core
is overloaded, `cooldowns.limit_scope`) halves the current limit, at most once per
`DECREASE_INTERVAL_SECONDS` (the calls already in flight when the first 429 came back answer
429 too: they are one signal, not many); every answered call raises it by one, back up to the
ceiling (with `limit` calls answered per round trip, the limit doubles per round trip: it
recovers in a few core delays). A user's own 429 leaves the project's limit alone.

Together with the cooldowns (no call at all while a 429's wait is in force) this is what keeps a
storm of 429s from raising the call rate when thousands of turns are in flight: the turns queue
for a slot here, in order, instead of all asking the core at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator

DECREASE_INTERVAL_SECONDS = 1.0


class AdaptiveLimit:
    def __init__(self, ceiling: int) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._decreased_at = float("-inf")

    def set_ceiling(self, ceiling: int) -> None:
        """The project's setting changed: the limit follows it down at once, up by successes."""
        self.ceiling = max(1, ceiling)
        self.limit = min(self.limit, self.ceiling)
        self._wake()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the limit's slots (first come, first served) for the body."""
        if self.in_flight >= self.limit or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self.in_flight -= 1  # the slot handed to us goes to the next one in line
                    self._wake()
                else:
                    self._waiters.remove(waiter)
                raise
        else:
            self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._wake()

    def answered(self) -> None:
        """A call was answered (not limited): one more slot, up to the ceiling."""
        if self.limit < self.ceiling:
            self.limit += 1
            self._wake()

    def limited(self) -> None:
        """The core refused a call for the whole project: halve the limit (once per interval)."""
        now = time.monotonic()
        if now - self._decreased_at >= DECREASE_INTERVAL_SECONDS:
            self._decreased_at = now
            self.limit = max(1, self.limit // 2)

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            self._wake_next()

    def _wake_next(self) -> None:
        """Hand a slot to the first waiter still waiting (counted for it before it runs)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)
                return


class CoreLimits:
    """One `AdaptiveLimit` per project."""

    def __init__(self) -> None:
        self._limits: dict[int, AdaptiveLimit] = {}

    def of(self, project_id: int, ceiling: int) -> AdaptiveLimit:
        limit = self._limits.get(project_id)
        if limit is None:
            limit = self._limits[project_id] = AdaptiveLimit(ceiling)
        elif limit.ceiling != ceiling:
            limit.set_ceiling(ceiling)
        return limit

    def snapshot(self) -> dict[int, tuple[int, int]]:
        """Per project id: (current limit, calls in flight)."""
        return {pid: (limit.limit, limit.in_flight) for pid, limit in self._limits.items()}
