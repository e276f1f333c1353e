"""Background loops: claim work from a database queue and run it with bounded concurrency.

One `ClaimLoop` serves the inbox (turns) and one the outbox (sends). A loop claims only as many
rows as it has free slots, renews the leases of what it holds, and on shutdown stops claiming,
lets in-flight work finish for a grace period, then releases whatever is left so another process
takes it up at once instead of after the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from gateway.storage.db import Database
from gateway.storage.queue import QueueSpec, claim, release_leases, renew_leases

log = structlog.get_logger("gateway.storage.worker")

CLAIM_DEBOUNCE_SECONDS = 0.005
CLAIM_BATCH_MAX = 100
"""Rows one claim takes at most: starting a thousand turns in one go would hold the event loop
(and the webhooks it acknowledges) for tens of milliseconds; batches of 100 with a yield between
them keep its stalls short at no measurable cost in claims."""


FAST_CORE_CLAIM_BATCH = 25
"""Rows one claim of turns takes at most while the core answers fast (`FAST_CORE_S`)."""

FAST_CORE_S = 0.5
"""A core whose response calls typically come back sooner than this is fast: the process then
needs few turns in flight to keep busy, and its CPU, not the core, bounds its turns/s."""


def claim_batch_following(typical_wait: Callable[[], float | None]) -> Callable[[], int]:
    """A claim size for turns: `FAST_CORE_CLAIM_BATCH` while `typical_wait()` (seconds a turn
    typically waits on the core; None: not known yet) is under `FAST_CORE_S`, else
    `CLAIM_BATCH_MAX`.

    Against a fast core a busy process finishes turns as fast as its CPU allows, and every
    batch claimed beyond that only waits in memory: 100 rows a claim brought waves of ~500
    turns in flight (~300 of them in core calls at once), small batches let the writer's
    holdback (`TurnWriter.behind`) act before a wave builds. Against a core answering in
    seconds, and whenever the wait is not known (the runtime knows it only while turns finish
    fast), a burst is claimed in large batches: each claim is a round trip in a busy event
    loop, and small ones left the last chats of a 1,000-chat burst waiting ~0.4 s to be claimed
    (docs/decisions.md)."""

    def batch() -> int:
        seconds = typical_wait()
        fast = seconds is not None and seconds < FAST_CORE_S
        return FAST_CORE_CLAIM_BATCH if fast else CLAIM_BATCH_MAX

    return batch


def new_worker_id() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ClaimLoop:
    def __init__(
        self,
        name: str,
        db: Database,
        spec: QueueSpec,
        handler: Callable[[Any, str], Awaitable[None]],
        *,
        worker_id: str,
        concurrency: int,
        lease_seconds: float,
        poll_interval: float,
        debounce: Callable[[], float] | None = None,
        holdback: Callable[[], bool] | None = None,
        batch: Callable[[], int] | None = None,
    ) -> None:
        """`debounce`: while work is in flight, how long a claim waits for more rows to become
        ready (seconds, asked each time; at least `CLAIM_DEBOUNCE_SECONDS`). `holdback`: while
        it answers True, nothing is claimed (the work in flight is stuck behind something
        downstream, and more of it would only wait there too, in memory); a handler finishing
        wakes the loop to ask again. `batch`: the most rows one claim takes (asked each time;
        default `CLAIM_BATCH_MAX`)."""
        self.name, self.db, self.spec, self.handler = name, db, spec, handler
        self.debounce, self.holdback = debounce, holdback
        self.batch = batch or (lambda: CLAIM_BATCH_MAX)
        self.worker_id = worker_id
        self.concurrency, self.lease, self.poll = concurrency, lease_seconds, poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._draining = False
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._expired_checked = float("-inf")
        """When this loop last looked for rows whose lease ran out (once per poll interval)."""
        self._tasks: list[asyncio.Task[None]] = []

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_forever(), name=f"{self.name}-claim"),
            asyncio.create_task(self._heartbeat_forever(), name=f"{self.name}-heartbeat"),
        ]

    async def _claim_forever(self) -> None:
        while not self._stopping:
            # Cleared before the claim, not after: a wake-up that comes while the claim runs
            # (a turn finished: its chat's next row is ready) must not wait for the poll.
            self._wake.clear()
            free = min(self.concurrency - len(self._inflight), self.batch())
            if self.holdback is not None and self.holdback():
                free = 0
            claimed = self._start(await self._claim(free)) if free > 0 else 0
            if claimed and claimed == free:
                await asyncio.sleep(0)  # let the webhooks in between two batches
                continue  # more may be waiting
            if self._draining and not claimed and not self._inflight:
                return  # drained: nothing ready is left
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)
            if self._inflight and not self._stopping:
                # Busy: let a few more slots free up so one claim query serves several of them.
                extra = self.debounce() if self.debounce is not None else 0.0
                await asyncio.sleep(max(CLAIM_DEBOUNCE_SECONDS, extra))

    async def _claim(self, limit: int) -> list[Any]:
        now = time.monotonic()
        expired = now - self._expired_checked >= self.poll
        try:
            rows = await claim(
                self.db, self.spec, self.worker_id, self.lease, limit, include_expired=expired
            )
        except Exception:  # database hiccup: log, wait, keep the loop alive
            log.exception(f"{self.name}.claim_failed")
            return []
        if expired:
            self._expired_checked = now
        return rows

    def _start(self, rows: list[Any]) -> int:
        """A task per claimed row; how many rows there were. The rows are handed over, not kept
        here: a handler may let go of what it no longer needs (a turn, its decoded payload)."""
        for row in rows:
            if row.id in self._inflight:
                # Our own lease ran out while we still work on it (e.g. the database was
                # away and heartbeats failed): the task in flight carries on, never twice.
                continue
            task = asyncio.create_task(self._run(row), name=f"{self.name}-{row.id}")
            self._inflight[row.id] = task
        return len(rows)

    async def _run(self, row: Any) -> None:
        row_id = row.id
        work = self.handler(row, self.worker_id)
        del row  # the handler keeps what it needs of it, as long as it needs it
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            # The row stays claimed; its lease runs out and it is retried. Never lost.
            log.exception(f"{self.name}.handler_crashed", row_id=row_id)
        finally:
            self._inflight.pop(row_id, None)
            self._wake.set()  # the chat's next row may now be claimable

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            held = list(self._inflight)
            if not held:
                continue
            try:
                await renew_leases(self.db, self.spec, held, self.worker_id, self.lease)
            except Exception:
                log.exception(f"{self.name}.heartbeat_failed")

    async def stop(self, grace: float = 10.0, *, drain_queue: bool = False) -> None:
        """Stop within `grace`: finish in-flight work (and, with `drain_queue`, whatever becomes
        ready meanwhile, such as replies of the turns that just finished), release the rest."""
        if drain_queue and self._tasks:
            self._draining = True
            self._wake.set()
            await asyncio.wait([self._tasks[0]], timeout=grace)
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.wait([self._tasks[0]], timeout=grace)
        pending = list(self._inflight.values())
        if pending:
            await asyncio.wait(pending, timeout=grace)
        leftover = list(self._inflight)
        for task in [*self._inflight.values(), *self._tasks]:
            task.cancel()
        for task in [*self._inflight.values(), *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if leftover:
            await self._release(leftover)

    async def _release(self, row_ids: list[int]) -> None:
        released = await release_leases(self.db, self.spec, row_ids, self.worker_id)
        log.info(f"{self.name}.released", count=len(released))
