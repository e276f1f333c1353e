"""The turn: one claimed inbox event -> its context -> the first handler that decides -> the
writes of the finished event (`finish`).

The handlers (`gateway.turn.handlers`) are asked in order; each returns an `Outcome` (finished:
what to write and say), `Step.PASS` (the next handler decides) or `Step.RESCHEDULED` (the event
went back on the queue; nothing is written now).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from approvals.service import ApprovalService
from channels.capabilities import Capabilities
from gateway.config import Settings
from gateway.errors import NotFound
from gateway.messages import InboundEvent, ReplyPart
from gateway.metrics import Metrics
from gateway.storage.db import Database
from gateway.storage.db.models import utcnow
from gateway.storage.inbox import ClaimedEvent, event_key
from gateway.storage.media_store import MediaStore
from gateway.storage.projects import AccountDirectory
from gateway.turn.context import TurnContext
from gateway.turn.conversations import Conversations
from gateway.turn.core_client import CoreClient
from gateway.turn.core_input import CoreInputs
from gateway.turn.core_turn import CoreCaller
from gateway.turn.finish import Finished, TurnWriter
from gateway.turn.handlers import turn_handlers
from gateway.turn.media import MediaFetcher
from gateway.turn.outcome import Handler, HandlerResult, Outcome, Step
from gateway.turn.replies import FAILED_REPLY
from gateway.turn.retry import LeaseLost
from gateway.turn.transcribe import Transcriber
from identity.resolve import SenderResolver
from identity.store import IdentityStore

log = structlog.get_logger("gateway.turn")


class TurnPipeline:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        directory: AccountDirectory,
        core: CoreClient,
        metrics: Metrics,
        wake_sender: Callable[[], None],
        identity: IdentityStore,
        approvals: ApprovalService,
        media_store: MediaStore | None = None,
        linger: Callable[[], float] | None = None,
    ) -> None:
        """`media_store`: given when inbound media is kept (GATEWAY_MEDIA_RETENTION_HOURS);
        `linger`: how long finished turns wait to be written together (`TurnWriter`)."""
        self.settings, self.db, self.directory = settings, db, directory
        self.metrics, self.wake_sender = metrics, wake_sender
        self.resolver = SenderResolver(identity)
        self.conversations = Conversations(db)
        self.writer = TurnWriter(db, self.conversations, identity, approvals, linger=linger)
        self._background: set[asyncio.Task[None]] = set()
        # One per process: the media downloads. HTTP session (transcriptions use the core.s).
        fetcher = MediaFetcher.from_settings(settings, metrics)
        self.inputs = CoreInputs(fetcher, Transcriber(core), media_store)
        self.handlers: list[Handler] = turn_handlers(
            db=db,
            approvals=approvals,
            caller=CoreCaller(core, db, metrics, wake_sender),
            conversations=self.conversations,
            inputs=self.inputs,
            spawn=self._in_background,
            album_wait_seconds=settings.album_wait_seconds,
            media_concurrency=settings.media_concurrency,
        )

    async def close(self) -> None:
        await self.inputs.close()
        await self.writer.close()
        await self.conversations.close()

    async def process(self, claimed_row: Any, worker_id: str) -> None:
        """Handle one claimed inbox row (as returned by the claim). The turn keeps its event and
        a `ClaimedEvent`, not the row: its decoded payload is let go before the first wait."""
        # Without the provider's raw update: it stays in the inbox row for support, and no
        # handler reads it (the adapter took what it needs into the event's fields and hints).
        event = InboundEvent.model_validate(
            {key: value for key, value in claimed_row.payload.items() if key != "raw"}
        )
        row = ClaimedEvent.of(claimed_row)
        del claimed_row
        structlog.contextvars.bind_contextvars(inbox_id=row.id, request_id=row.request_id)
        try:
            try:
                project, adapter = await self.directory.get(event.route, event.account)
            except NotFound as exc:
                await self._finish(Finished(row, worker_id, event, Outcome.failed(str(exc))))
                return
            key = event_key(project.name, event)
            structlog.contextvars.bind_contextvars(event_key=key)
            ctx = TurnContext.build(
                row=row,
                worker_id=worker_id,
                event=event,
                project=project,
                adapter=adapter,
                key=key,
                settings=self.settings,
                resolver=self.resolver,
            )
            result = await self._decide(ctx)
            if isinstance(result, Outcome):
                event = ctx.event  # an album: its parts gathered into one
                most = self.settings.reply_parts(ctx.caps.paid_parts)
                parts = reply_parts(result, ctx.caps, most) if event.chat else ()
                await self._finish(
                    Finished(
                        row, worker_id, event, result, project, ctx.caps, parts, key, ctx.absorbed
                    )
                )
        except LeaseLost:
            log.warning("inbox.lease_lost")
        finally:
            structlog.contextvars.clear_contextvars()

    async def _decide(self, ctx: TurnContext) -> HandlerResult:
        row = ctx.row
        if row.attempts > self.settings.inbox_max_attempts + 2:
            # Claimed again and again without ever finishing: processing itself crashes.
            # Stop with an apology instead of looping forever.
            log.error("inbox.poisoned", attempts=row.attempts, last_error=row.last_error)
            error = f"gave up after {row.attempts} claims: {row.last_error}"
            return Outcome.failed(error, FAILED_REPLY.format(ref=row.id))
        for handler in self.handlers:
            result = await handler.handle(ctx)
            if result is not Step.PASS:
                return result
        return Outcome.ignored("no handler took the event")

    async def _finish(self, job: Finished) -> None:
        outcome, event = job.outcome, job.event
        if not await self.writer.write(job):
            raise LeaseLost
        if job.parts:
            self.wake_sender()
        if outcome.turn_status is not None:
            self.metrics.turns.labels(event.channel, outcome.turn_status.value).inc()
            elapsed = (utcnow() - job.row.received_at).total_seconds()
            self.metrics.turn_seconds.labels(event.channel).observe(max(0.0, elapsed))
        log.info(
            "inbox.done",
            status=outcome.status.value,
            turn_status=outcome.turn_status,
            replies=len(outcome.replies),
            parts=len(job.parts),
        )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def reply_parts(outcome: Outcome, caps: Capabilities, most: int) -> tuple[ReplyPart, ...]:
    """What the chat is sent, in order: the gateway's own replies, plain and split, then the
    agent's answer rendered in the channel's markup; `most` caps the parts of the whole (the
    answer keeps at least one part)."""
    plain = [ReplyPart(part) for reply in outcome.replies for part in caps.split(reply, most)]
    if not outcome.answer:
        return tuple(plain)
    return (*plain, *caps.render(outcome.answer, max(1, most - len(plain))))
