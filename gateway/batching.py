"""Group commit: many concurrent callers, one database transaction for all of them.

Each caller submits its items and waits for its own results; a single background task writes
whatever accumulated since the last write (up to `max_batch` items per transaction, at most
`max_in_flight` transactions at once). An idle system pays no added latency: the first item is
written at once. Under load one commit serves hundreds of callers, which is where a per-caller
transaction spends its time (round trips, statement overhead, fsync).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]
"""Writes a batch; answers one result per item, in order (an exception fails only its item).
Raising fails every item of the batch."""


class GroupCommit(Generic[T, R]):
    def __init__(
        self, name: str, flush: Flush[T, R], *, max_batch: int = 256, max_in_flight: int = 2
    ) -> None:
        self.name, self._flush_batch, self.max_batch = name, flush, max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._task: asyncio.Task[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Results in the order of `items`; raises the first item's error if any failed."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"{self.name}-group-commit")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = []
        for item in items:
            future: asyncio.Future[R] = loop.create_future()
            self._queue.append((item, future))
            futures.append(future)
        self._wake.set()
        return list(await asyncio.gather(*futures))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._slots.acquire()
                batch = self._queue[: self.max_batch]
                self._queue = self._queue[self.max_batch :]
                task = asyncio.create_task(self._flush(batch))
                self._flushes.add(task)
                task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
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
            self._slots.release()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
