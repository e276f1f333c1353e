"""Which (channel, account) names are enabled: the webhook's first answer to a made-up name.

The webhook URL names the account, and anyone can invent one. Rather than a query per invented
name (or a negative cache that grows with every invention), the account directory asks this
snapshot of the enabled accounts' names. It is re-read, by one query whoever is waiting, only when
a name is missing from it and it is older than `ttl` seconds, or at once after `invalidate()`
(this process changed an account). Its size is the number of real accounts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy import select

from gateway.storage.db import Database
from gateway.storage.db.models import ChannelAccount

Name = tuple[str, str]


class KnownAccounts:
    def __init__(
        self, db: Database, ttl: float = 2.0, on_query: Callable[[], None] | None = None
    ) -> None:
        self.db, self.ttl, self._on_query = db, ttl, on_query
        self._names: frozenset[Name] = frozenset()
        self._fresh_until = 0.0
        self._reading: asyncio.Future[None] | None = None
        self._generation = 0

    async def exists(self, channel: str, account: str) -> bool:
        """False only when the name is missing from a snapshot younger than `ttl` seconds (a
        name present may since have been disabled: the caller's own lookup has the last word)."""
        name = (channel, account)
        if name in self._names:
            return True
        if time.monotonic() < self._fresh_until:
            return False
        await self._reread()
        return name in self._names

    def forget(self, channel: str, account: str) -> None:
        """The account turned out gone or disabled: answer its name from the snapshot again."""
        self._names = self._names - {(channel, account)}

    def invalidate(self) -> None:
        """Re-read on the next miss; a read already under way is not trusted to be fresh."""
        self._generation += 1
        self._fresh_until = 0.0
        self._reading = None

    async def _reread(self) -> None:
        # Single flight: a flood of made-up names waits on one query.
        reading = self._reading
        if reading is None:
            reading = self._reading = asyncio.ensure_future(self._read(self._generation))
            reading.add_done_callback(self._done)
        await asyncio.shield(reading)

    def _done(self, reading: asyncio.Future[None]) -> None:
        if self._reading is reading:
            self._reading = None
        if not reading.cancelled():
            reading.exception()  # retrieved: every waiter may have gone (client disconnects)

    async def _read(self, generation: int) -> None:
        if self._on_query is not None:
            self._on_query()
        async with self.db.session() as session:
            rows = await session.execute(
                select(ChannelAccount.channel, ChannelAccount.account).where(
                    ChannelAccount.enabled.is_(True)
                )
            )
            names = frozenset((channel, account) for channel, account in rows)
        self._names = names
        if generation == self._generation:  # else a change came in meanwhile: read again
            self._fresh_until = time.monotonic() + self.ttl
