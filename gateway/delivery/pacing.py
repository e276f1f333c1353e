"""Outbound pacing: token buckets per account, per chat and per group chat.

Each process paces its own sends; with several sender processes the per-account rate is per
process (set GATEWAY_TELEGRAM_RATE_PER_BOT accordingly). Per-chat limits hold across processes
anyway, because the outbox lets only one message per chat be in flight at a time. Buckets reserve
ahead (tokens may go negative), so waiters are served in arrival order without polling.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from channels.capabilities import BY_CHANNEL
from gateway.config import Settings


@dataclass(frozen=True)
class PacingPolicy:
    per_account_per_second: float
    per_chat_per_second: float
    chat_burst: int
    group_per_minute: float


class TokenBucket:
    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self.stamp = time.monotonic()

    def reserve(self) -> float:
        """Take one token; return how long the caller must wait before using it."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def try_take(self) -> bool:
        """Take one token if one is there now; never waits, never reserves ahead."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def pause(self, seconds: float) -> None:
        """Provider said slow down: no token for `seconds`."""
        self.tokens = min(self.tokens, 0.0) - seconds * self.rate

    @property
    def idle(self) -> bool:
        return self.tokens + (time.monotonic() - self.stamp) * self.rate >= self.capacity


class Pacer:
    def __init__(self, policy: PacingPolicy) -> None:
        self.policy = policy
        self._accounts: dict[str, TokenBucket] = {}
        self._chats: dict[str, TokenBucket] = {}
        self._reservations = 0

    async def wait(self, account: str, chat: str, *, is_group: bool) -> None:
        p = self.policy
        delays = [
            self._bucket(self._chats, chat, p.per_chat_per_second, p.chat_burst).reserve(),
            self._bucket(
                self._accounts, account, p.per_account_per_second, p.per_account_per_second
            ).reserve(),
        ]
        if is_group:
            delays.append(
                self._bucket(
                    self._chats,
                    f"group:{chat}",
                    p.group_per_minute / 60.0,
                    max(1.0, p.group_per_minute / 4),
                ).reserve()
            )
        self._prune()
        delay = max(delays)
        if delay > 0:
            await asyncio.sleep(delay)

    def pause(self, account: str, chat: str, seconds: float) -> None:
        for buckets, key in ((self._chats, chat), (self._accounts, account)):
            if key in buckets:
                buckets[key].pause(seconds)

    @staticmethod
    def _bucket(
        buckets: dict[str, TokenBucket], key: str, rate: float, capacity: float
    ) -> TokenBucket:
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(rate, capacity)
        return bucket

    def _prune(self) -> None:
        """Forget full (idle) chat buckets now and then so memory tracks active chats only."""
        self._reservations += 1
        if self._reservations % 1000 == 0:
            for key in [k for k, b in self._chats.items() if b.idle]:
                del self._chats[key]


_SETTINGS = {
    "per_account_per_second": "{route}_rate_per_bot",
    "per_chat_per_second": "{route}_rate_per_chat",
    "chat_burst": "{route}_chat_burst",
    "group_per_minute": "{route}_group_per_minute",
}
"""Pacing limit -> the setting that tunes it for a route (`GATEWAY_TELEGRAM_RATE_PER_BOT` ...)."""


def build_pacers(settings: Settings) -> dict[str, Pacer]:
    """A pacer per route whose capabilities declare send limits (`Capabilities.pacing`), each
    limit as the settings tune it (the declared one where the settings have none). A route's
    declared capabilities are its channel's (`ADAPTERS[route].capabilities`), read here without
    importing the adapter."""
    pacers: dict[str, Pacer] = {}
    for route, caps in BY_CHANNEL.items():
        if caps.pacing is None:
            continue
        limits = {
            limit: getattr(settings, name.format(route=route), getattr(caps.pacing, limit))
            for limit, name in _SETTINGS.items()
        }
        pacers[route] = Pacer(PacingPolicy(**limits))
    return pacers
