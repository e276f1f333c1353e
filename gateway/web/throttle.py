"""Failed-authentication throttle: per client address, in memory, bounded.

After `limit` failures within `window` seconds of an address's first failure, every request from
that address is answered 429 until the window ends. Memory is bounded by `max_clients`: windows
that ended are dropped first, then the oldest entries.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    failures: int


class FailureThrottle:
    def __init__(
        self,
        limit: int = 10,
        window: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.max_clients, self.clock = limit, window, max_clients, clock
        self._windows: dict[str, _Window] = {}

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None when it is not throttled."""
        entry = self._windows.get(client)
        if entry is None or entry.failures < self.limit:
            return None
        left = entry.started + self.window - self.clock()
        if left <= 0:
            del self._windows[client]
            return None
        return max(1, math.ceil(left))

    def failed(self, client: str) -> int:
        """Count a failure of `client`; the failures in its current window."""
        now = self.clock()
        entry = self._windows.get(client)
        if entry is None or now - entry.started >= self.window:
            self._windows.pop(client, None)  # re-inserted last: the order stays by age
            self._make_room(now)
            entry = self._windows[client] = _Window(now, 0)
        entry.failures += 1
        return entry.failures

    def _make_room(self, now: float) -> None:
        if len(self._windows) < self.max_clients:
            return
        for client in [c for c, w in self._windows.items() if now - w.started >= self.window]:
            del self._windows[client]
        while len(self._windows) >= self.max_clients:  # all live: forget the oldest
            del self._windows[next(iter(self._windows))]
