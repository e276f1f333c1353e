"""A fake Bot API that fails a share of `sendMessage` calls at random, like Telegram on a bad day.

Built on `FakeTelegram.fail_next`: while `flaky` is on, each sendMessage call is, with probability
`failure_rate`, answered 429 (`retry_after` 1 s) or a 5xx instead of being accepted. Failed calls
are recorded with their status, so `sent_texts()` still lists only what users would see.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from gateway.dev.fake_telegram import FakeTelegram

_SERVER_ERRORS = (
    (500, "Internal Server Error"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
)


class FlakyTelegram(FakeTelegram):
    def __init__(self, *, failure_rate: float = 0.5, seed: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failure_rate = failure_rate
        self.flaky = False
        self.injected: Counter[int] = Counter()
        self._rng = random.Random(seed)

    def _raise_injected(self, method: str) -> None:
        if self.flaky and method == "sendMessage" and self._rng.random() < self.failure_rate:
            if self._rng.random() < 0.5:
                status, description = 429, "Too Many Requests: retry after 1"
                self.fail_next(method, status=status, description=description, retry_after=1)
            else:
                status, description = self._rng.choice(_SERVER_ERRORS)
                self.fail_next(method, status=status, description=description)
            self.injected[status] += 1
        super()._raise_injected(method)
