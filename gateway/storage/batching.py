"""Group commit: many concurrent callers, one database transaction for all of them.

Each caller submits its items and waits for its own results; a flusher writes whatever has
accumulated when it starts (up to `max_batch` items per transaction, at most `max_in_flight`
transactions at once). An idle system pays no added latency: the first item is written in the
next turn of the event loop. Under load one commit serves hundreds of callers, which is where a
per-caller transaction spends its time (round trips, statement overhead, fsync).

Every hop through the event loop costs a caller a full loop iteration, and in a busy process
(`gateway serve` runs the worker beside the webhooks) an iteration can take milliseconds, so the
path from `submit` to the write is kept short: the submitting call starts a flusher itself (no
coordinator task in between), the flusher takes its batch when it first runs (so everything
submitted in the same iteration joins it), and a single item is awaited without `gather`.

The worker's own batches may also wait a little for company (`linger`), in proportion to how
long its turns already wait: against a core that answers in seconds, turns finish one by one at
a steady rate and each would otherwise be its own transaction (measured: 190 turns/s wrote ~1.3
turns per transaction and claimed ~1.7 replies per outbox claim), while 20 ms more on a reply
that took seconds is nothing. Against a fast core the linger is next to nothing, so chains of
turns (a chat's next message waits for its previous reply) do not slow down.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

LINGER_SHARE = 0.01
"""How long the worker's batches wait for company, as a share of how long its turns typically
wait on the core (`linger_following`)."""

LINGER_CAP_S = 0.02
"""...and at most this long (what a 2 s core gives)..."""

LINGER_MIN_S = 0.001
"""...and not at all below this (a core answering within 0.1 s): a shorter wait buys no
company, only an extra turn of the event loop."""

LINGER_BELOW = 16
"""A batch lingers only while the previous one had fewer items: under a flood batches fill up by
themselves, and waiting would only delay them."""

WRITTEN_HORIZON_S = 2.0
"""How far back `GroupCommit.written_within` can look."""

Flush = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]
"""Writes a batch; answers one result per item, in order (an exception fails only its item).
Raising fails every item of the batch."""


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        name: str,
        flush: Flush[T, R],
        *,
        max_batch: int = 256,
        max_in_flight: int = 2,
        linger: Callable[[], float] | None = None,
    ) -> None:
        """`linger`: how long a batch waits after the previous one (seconds, asked for each
        batch); none: no wait, a lone item is written in the next loop iteration."""
        self.name, self._flush_batch = name, flush
        self.max_batch, self.max_in_flight = max_batch, max_in_flight
        self.linger = linger
        self._last_batch_at = float("-inf")
        self._last_batch_size = 0
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writing = 0
        self._written: collections.deque[tuple[float, int]] = collections.deque()
        """(event loop time, items) of the batches written in the last `WRITTEN_HORIZON_S`."""
        self._flushers: set[asyncio.Task[None]] = set()
        self._starting: asyncio.Task[None] | None = None
        """A flusher was created and has not yet taken its first batch: later submissions of
        this loop iteration join that batch instead of starting flushers of their own."""

    @property
    def backlog(self) -> int:
        """Items submitted and not yet written (queued, or in a transaction not yet done)."""
        return len(self._queue) + self._writing

    async def submit(self, item: T) -> R:
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Results in the order of `items`; raises the first item's error if any failed."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for item in items:
            future: asyncio.Future[R] = loop.create_future()
            self._queue.append((item, future))
            futures.append(future)
        self._start_flusher()
        if len(futures) == 1:
            return [await futures[0]]
        return list(await asyncio.gather(*futures))

    def _start_flusher(self) -> None:
        if self._starting or not self._queue or len(self._flushers) >= self.max_in_flight:
            return
        task = asyncio.create_task(self._flusher(), name=f"{self.name}-group-commit")
        self._starting = task
        self._flushers.add(task)
        task.add_done_callback(self._flusher_done)

    def _flusher_done(self, task: asyncio.Task[None]) -> None:
        self._flushers.discard(task)
        if self._starting is task:
            self._starting = None  # cancelled before it ever ran
        self._start_flusher()  # a slot is free: take up what queued meanwhile

    async def _flusher(self) -> None:
        """Writes batches until the queue is empty; another flusher is started beside it while
        items are left over and a slot is free. With `linger`, a batch is taken no sooner than
        `linger` after the previous one: what comes meanwhile joins it."""
        if self.linger is not None:
            loop = asyncio.get_running_loop()
            if self._last_batch_size < LINGER_BELOW:  # a trickle: worth waiting for company
                wait = self._last_batch_at + self.linger() - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # submissions meanwhile join this batch
            self._last_batch_at = loop.time()
        self._starting = None
        while self._queue:
            batch = self._queue[: self.max_batch]
            self._last_batch_size = len(batch)
            self._queue = self._queue[self.max_batch :]
            self._start_flusher()
            await self._write(batch)

    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self._writing += len(batch)
        try:
            results = await self._flush_batch([item for item, _ in batch])
        except BaseException as exc:  # every waiter learns its write failed
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        finally:
            self._writing -= len(batch)
            self._note_written(len(batch))
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # its caller gave up (cancelled) meanwhile
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _note_written(self, items: int) -> None:
        now = asyncio.get_running_loop().time()
        self._written.append((now, items))
        while self._written[0][0] < now - WRITTEN_HORIZON_S:
            self._written.popleft()

    def written_within(self, seconds: float) -> int:
        """Items whose batch was written (or failed) in the last `seconds` (at most
        `WRITTEN_HORIZON_S`)."""
        since = asyncio.get_running_loop().time() - seconds
        return sum(items for at, items in self._written if at >= since)

    async def close(self) -> None:
        """Waits for the writes in progress, and for those of whatever is still queued."""
        while self._flushers:
            await asyncio.gather(*list(self._flushers), return_exceptions=True)


def linger_following(typical_wait: Callable[[], float]) -> Callable[[], float]:
    """A linger for the worker's batches: `LINGER_SHARE` of `typical_wait()` (seconds a turn
    typically waits on the core), at most `LINGER_CAP_S`, none below `LINGER_MIN_S`."""

    def linger() -> float:
        seconds = min(LINGER_CAP_S, LINGER_SHARE * typical_wait())
        return seconds if seconds >= LINGER_MIN_S else 0.0

    return linger
