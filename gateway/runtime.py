"""The process runtime: builds every long-lived part once and wires them (no globals)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog

from approvals.core_owned import CoreApprovals
from approvals.service import ApprovalService
from approvals.tokens import tokens_from
from approvals.webhooks import WEBHOOKS, WebhookSender, pending_count
from gateway.config import Settings
from gateway.delivery.pacing import build_pacers
from gateway.delivery.sender import OutboxSender
from gateway.heap import REQUESTS, FullCollections, HeapTrim, freeze_long_lived
from gateway.metrics import Metrics
from gateway.storage.batching import linger_following
from gateway.storage.db import Database
from gateway.storage.db.schema import ensure_current
from gateway.storage.inbox import INBOX, InboxWriter
from gateway.storage.media_store import MediaStore
from gateway.storage.outbox import OUTBOX
from gateway.storage.projects import AccountDirectory, ProjectStore
from gateway.storage.queue import depth
from gateway.storage.secrets import load_secret_box
from gateway.storage.worker import ClaimLoop, claim_batch_following, new_worker_id
from gateway.turn.core_client import CoreClient
from gateway.turn.pipeline import TurnPipeline
from identity.store import IdentityStore

log = structlog.get_logger("gateway.runtime")

MEDIA_PURGE_SECONDS = 60.0
"""How often the sweeper deletes expired kept media (GATEWAY_MEDIA_RETENTION_HOURS)."""

FAST_FINISHING = (200, 0.5)
"""At least this many turns written in this many seconds (400/s): the process is finishing turns
as fast as its CPU allows (`Runtime._core_wait_while_finishing_fast`)."""


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._full_collections: FullCollections | None = None
        self._heap_trim = HeapTrim(interval=settings.heap_trim_seconds)
        self.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        self.box = load_secret_box(settings)
        self.metrics = Metrics()
        self.store = ProjectStore(self.db, self.box, settings)
        self.inbox_writer = InboxWriter(self.db)
        self.directory = AccountDirectory(self.store, metrics=self.metrics)
        self.core = CoreClient(
            self.metrics,
            timeout=settings.core_timeout_seconds,
            attempts=settings.core_attempts,
            max_response_bytes=settings.core_max_response_bytes,
        )
        self.worker_id = new_worker_id()
        # The worker's batches (finished turns, claims) wait for company in proportion to how
        # long turns wait on the core: ~20 ms against a core answering in seconds, next to
        # nothing against a fast one (gateway/storage/batching.py).
        self.linger = linger_following(lambda: self.core.typical_seconds)
        pacers = build_pacers(settings)
        self.approvals = ApprovalService(self.db, tokens_from(self.box))
        self.approvals.listeners.append(self._approval_changed)
        self.sender = OutboxSender(
            settings,
            self.db,
            self.directory,
            pacers,
            self.metrics,
            self.approvals.tokens.render_options,
        )
        self.outbox_loop = self._loop(
            "outbox", OUTBOX, self.sender.send, settings.sender_concurrency, self.linger
        )
        self.identity = IdentityStore(self.db, self.box)
        self.media_store = MediaStore(self.db, self.box, settings.media_retention_hours)
        self.pipeline = TurnPipeline(
            settings,
            self.db,
            self.directory,
            self.core,
            self.metrics,
            self.outbox_loop.wake,
            self.identity,
            self.approvals,
            self.media_store if settings.media_retention_hours > 0 else None,
            linger=self.linger,
        )
        self.inbox_loop = self._loop(
            "inbox",
            INBOX,
            self.pipeline.process,
            settings.worker_concurrency,
            self.linger,
            holdback=self.pipeline.writer.behind,
            batch=claim_batch_following(self._core_wait_while_finishing_fast),
        )
        self.webhook_sender = WebhookSender(settings, self.db, self.box, self.metrics)
        self.webhook_loop = self._loop("webhooks", WEBHOOKS, self.webhook_sender.deliver, 8)
        self.core_approvals = CoreApprovals(
            settings, self.db, self.store, self.directory, self.identity, self.approvals
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self.loops_running = False

    def _core_wait_while_finishing_fast(self) -> float | None:
        """How long turns wait on the core now, for the size of the turns' claims
        (`claim_batch_following`): known only while the process finishes turns fast
        (`FAST_FINISHING`). A burst that follows quiet or moderate traffic is claimed in large
        batches even after fast answers, in case the core has turned slow meanwhile."""
        turns, seconds = FAST_FINISHING
        if self.pipeline.writer.written_within(seconds) < turns:
            return None
        return self.core.current_wait_seconds()

    def _loop(
        self,
        name: str,
        spec: object,
        handler: object,
        concurrency: int,
        debounce: Callable[[], float] | None = None,
        holdback: Callable[[], bool] | None = None,
        batch: Callable[[], int] | None = None,
    ) -> ClaimLoop:
        return ClaimLoop(
            name,
            self.db,
            spec,  # type: ignore[arg-type]
            handler,  # type: ignore[arg-type]
            worker_id=self.worker_id,
            concurrency=concurrency,
            lease_seconds=self.settings.lease_seconds,
            poll_interval=self.settings.poll_interval_seconds,
            debounce=debounce,
            holdback=holdback,
            batch=batch,
        )

    async def prepare(self) -> None:
        """Check the schema (refuse to run on an old one) and apply the environment's project."""
        await ensure_current(self.db)
        await self.store.apply_environment()

    def settle_heap(self) -> None:
        """Once the process is up: the long-lived objects out of the collector's sight, its
        full collections moved to moments without requests, and the C heap's free pages given
        back now and then (`gateway.heap`)."""
        freeze_long_lived()
        if self._full_collections is None:
            self._full_collections = FullCollections(REQUESTS.quiet_for)
            self._full_collections.start()
        self._heap_trim.start()

    def start_loops(self) -> None:
        self.inbox_loop.start()
        self.outbox_loop.start()
        self.webhook_loop.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="approval-sweeper")
        self._reconciler = asyncio.create_task(
            self.core_approvals.run_forever(), name="core-approvals"
        )
        self.loops_running = True
        log.info("worker.started", worker_id=self.worker_id)

    def wake_sender(self) -> None:
        if self.loops_running:
            self.outbox_loop.wake()

    def wake_worker(self) -> None:
        if self.loops_running:
            self.inbox_loop.wake()

    def _approval_changed(self, outcome: str) -> None:
        """A decision queued notices, maybe a continuation and a lifecycle event: start on them
        now rather than at the next poll (in this process; others find them by polling)."""
        self.metrics.approvals.labels(outcome).inc()
        if self.loops_running:
            self.outbox_loop.wake()
            self.inbox_loop.wake()
            self.webhook_loop.wake()

    async def _sweep_forever(self) -> None:
        next_purge = 0.0
        while True:
            try:
                await self.approvals.expire_overdue()
            except Exception:  # database hiccup: keep sweeping
                log.exception("approvals.sweep_failed")
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + MEDIA_PURGE_SECONDS
                await self._purge_media()
            await asyncio.sleep(self.settings.approval_sweep_seconds)

    async def _purge_media(self) -> None:
        """Expired kept media goes, whatever the setting is now (rows kept before it was 0)."""
        try:
            purged = await self.media_store.purge_expired()
        except Exception:  # database hiccup: the next purge deletes them
            log.exception("media.purge_failed")
            return
        if purged:
            log.info("media.purged", items=purged)

    async def refresh_gauges(self) -> None:
        inbox_count, _ = await depth(self.db, INBOX)
        outbox_count, outbox_age = await depth(self.db, OUTBOX)
        self.metrics.inbox_depth.set(inbox_count)
        self.metrics.webhook_pending.set(await pending_count(self.db))
        self.metrics.outbox_depth.set(outbox_count)
        self.metrics.outbox_oldest_age.set(outbox_age)

    async def close(self, grace: float = 10.0) -> None:
        if self.loops_running:
            # Turns first (they may queue replies), then flush the outbox they fed.
            await self.inbox_loop.stop(grace)
            for task in (self._sweeper, self._reconciler):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await self.outbox_loop.stop(grace, drain_queue=True)
            await self.webhook_loop.stop(grace)
            self.loops_running = False
        if self._full_collections is not None:
            await self._full_collections.stop()
        await self._heap_trim.stop()
        await self.inbox_writer.close()
        await self.pipeline.close()
        await self.identity.close()
        await self.sender.close()
        await self.webhook_sender.close()
        await self.core_approvals.close()
        await self.directory.close()
        await self.core.close()
        await self.db.close()
